//! Checkpoints (exact resume), Optimizer::epoch, load_weights against a
//! PyTorch state dict, metadata, export_c.
use nn::{Activation, DType, Device, FitOptions, Init, Layer, Loss, Model, Optimizer, Status, Tensor};

fn temp_path(name: &str) -> std::path::PathBuf {
    let dir = std::env::var_os("CARGO_TARGET_TMPDIR").map(Into::into).unwrap_or_else(std::env::temp_dir);
    dir.join(format!("nn-rust-ckpt-{}-{}", std::process::id(), name))
}

fn fixture(name: &str) -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures").join(name)
}

fn fresh() -> (Model, Optimizer) {
    let mut m = Model::mlp(&[4, 6, 2], Activation::Tanh, Activation::Identity).unwrap();
    m.init(Init::TorchDefault, 3).unwrap();
    let mut opt = Optimizer::sgd(&mut m, 0.05, 0.9, 1e-3, true).unwrap();
    opt.set_step_lr(2, 0.5).unwrap();
    (m, opt)
}

fn train(m: &mut Model, opt: &mut Optimizer, epochs: i32) {
    let x = Tensor::rand_uniform(DType::F32, &[29, 4], -1.0, 1.0, 7, Device::Cpu).unwrap();
    let y = Tensor::rand_uniform(DType::F32, &[29, 2], -1.0, 1.0, 8, Device::Cpu).unwrap();
    let o = FitOptions { epochs, batch_size: 8, seed: 5, loss: Loss::Mse, ..Default::default() };
    m.fit(opt, &x, &y, &o).unwrap();
}

#[test]
fn resume_is_bit_exact() {
    let (mut r, mut ro) = fresh();
    train(&mut r, &mut ro, 5);
    assert_eq!(ro.epoch(), 5);
    let (mut m, mut o) = fresh();
    train(&mut m, &mut o, 2);
    let path = temp_path("a.ckpt");
    nn::save_checkpoint(&m, &o, &path).unwrap();
    drop(o);
    drop(m);
    let (mut m2, mut o2) = nn::load_checkpoint(&path, Device::Cpu).unwrap();
    assert_eq!(o2.epoch(), 2);
    assert_eq!(o2.lr(), 0.025);
    train(&mut m2, &mut o2, 3);
    assert_eq!(m2.save_bytes().unwrap(), r.save_bytes().unwrap());
    let (p1, p2) = (temp_path("b.ckpt"), temp_path("r.ckpt"));
    nn::save_checkpoint(&m2, &o2, &p1).unwrap();
    nn::save_checkpoint(&r, &ro, &p2).unwrap();
    assert_eq!(std::fs::read(&p1).unwrap(), std::fs::read(&p2).unwrap());
    // A checkpoint is a plain model for Model::load.
    assert_eq!(Model::load(&p2, Device::Cpu).unwrap().save_bytes().unwrap(), r.save_bytes().unwrap());
    // Another model's optimizer is refused.
    assert_eq!(nn::save_checkpoint(&r, &o2, &p1).unwrap_err().status, Status::InvalidArgument);
    for p in [path, p1, p2] {
        std::fs::remove_file(p).unwrap();
    }
}

#[test]
fn load_weights_from_pytorch() {
    let mut m = Model::new().unwrap();
    m.add(Layer::linear(3, 4, true).unwrap()).unwrap();
    m.add(Layer::activation(Activation::Relu).unwrap()).unwrap();
    m.add(Layer::linear(4, 2, true).unwrap()).unwrap();
    m.load_weights(fixture("torch_state_dict.safetensors")).unwrap();
    let x = Tensor::from_slice(&[0.5f32, -1.0, 2.0], &[1, 3]).unwrap();
    let y: Vec<f32> = m.forward(&x).unwrap().to_vec().unwrap();
    // PyTorch's output (tests/fixtures/load_weights_fixtures.h)
    assert!((y[0] as f64 - 0.6650627661200375).abs() < 1e-6);
    assert!((y[1] as f64 + 0.007934504699775857).abs() < 1e-6);

    let mut wrong = Model::mlp(&[3, 5, 2], Activation::Relu, Activation::Identity).unwrap();
    let e = wrong.load_weights(fixture("torch_state_dict.safetensors")).unwrap_err();
    assert_eq!(e.status, Status::Format);
    assert!(e.message.contains("\"0.weight\" is [4, 3] in the file but [5, 3] in the model"), "{}", e.message);
}

#[test]
fn metadata_and_export_c() {
    let (mut m, _o) = fresh();
    assert_eq!(m.metadata("absent").unwrap(), None);
    m.set_metadata("features", "a,b,c,d").unwrap();
    m.set_metadata("empty", "").unwrap();
    let back = Model::load_bytes(&m.save_bytes().unwrap(), Device::Cpu).unwrap();
    assert_eq!(back.metadata("features").unwrap().as_deref(), Some("a,b,c,d"));
    assert_eq!(back.metadata("empty").unwrap().as_deref(), Some(""));
    assert_eq!(
        back.metadata_entries().unwrap(),
        vec![("empty".to_string(), String::new()), ("features".to_string(), "a,b,c,d".to_string())]
    );
    m.remove_metadata("features").unwrap();
    assert_eq!(m.metadata("features").unwrap(), None);
    assert_eq!(m.set_metadata("nn.architecture", "[]").unwrap_err().status, Status::InvalidArgument);

    let path = temp_path("net.c");
    m.export_c(&path, "net").unwrap();
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(text.contains("void net_predict(const float *x, float *y)"));
    assert!(text.contains("#define NET_OUT_FEATURES 2"));
    assert_eq!(m.export_c(&path, "1bad").unwrap_err().status, Status::InvalidArgument);
    std::fs::remove_file(path).unwrap();
}
