//! Save/load round trips.
use nn::{Activation, Device, Init, Layer, LayerKind, Model, Param, Status, Tensor};

fn temp_path(name: &str) -> std::path::PathBuf {
    let dir = std::env::var_os("CARGO_TARGET_TMPDIR").map(Into::into).unwrap_or_else(std::env::temp_dir);
    dir.join(format!("nn-rust-{}-{}", std::process::id(), name))
}

#[test]
fn save_load_round_trip_is_identical() {
    let mut m = Model::mlp(&[5, 7, 3], Activation::Relu, Activation::Softmax).unwrap();
    m.init(Init::HeNormal, 42).unwrap();
    let x = Tensor::rand_uniform(nn::DType::F32, &[11, 5], -1.0, 1.0, 7, Device::Cpu).unwrap();
    let before: Vec<f32> = m.forward(&x).unwrap().to_vec().unwrap();

    let path = temp_path("roundtrip.safetensors");
    m.save(&path).unwrap();
    let loaded = Model::load(&path, Device::Cpu).unwrap();
    let after: Vec<f32> = loaded.forward(&x).unwrap().to_vec().unwrap();
    assert_eq!(before.iter().map(|v| v.to_bits()).collect::<Vec<_>>(), after.iter().map(|v| v.to_bits()).collect::<Vec<_>>());
    assert_eq!(loaded.num_layers(), m.num_layers());
    assert_eq!(loaded.layer(3).unwrap().kind(), LayerKind::Activation);

    // Bytes in memory are the file, byte for byte; they load too.
    let bytes = m.save_bytes().unwrap();
    assert_eq!(bytes, std::fs::read(&path).unwrap());
    let from_bytes = Model::load_bytes(&bytes, Device::Cpu).unwrap();
    assert_eq!(from_bytes.save_bytes().unwrap(), bytes);
    for i in [0usize, 2] {
        for which in [Param::Weight, Param::Bias] {
            let a: Vec<f32> = m.layer(i).unwrap().param(which).unwrap().to_vec().unwrap();
            let b: Vec<f32> = from_bytes.layer(i).unwrap().param(which).unwrap().to_vec().unwrap();
            assert_eq!(a, b);
        }
    }
    std::fs::remove_file(&path).unwrap();
}

#[test]
fn load_errors() {
    let e = Model::load(temp_path("does-not-exist.safetensors"), Device::Cpu).unwrap_err();
    assert_eq!(e.status, Status::Io);
    assert!(!e.message.is_empty());
    let e = Model::load_bytes(b"definitely not safetensors", Device::Cpu).unwrap_err();
    assert_eq!(e.status, Status::Format);
    assert!(e.message.starts_with("nn_model_load_buffer"), "{}", e.message);
    let e = Model::load("bad\0path", Device::Cpu).unwrap_err();
    assert_eq!(e.status, Status::InvalidArgument);
}

#[test]
fn built_model_layers_and_params() {
    let mut m = Model::new().unwrap();
    let mut l = Layer::linear(2, 1, true).unwrap();
    l.set_param(Param::Weight, &Tensor::from_slice(&[2f32, -1.], &[1, 2]).unwrap()).unwrap();
    l.set_param(Param::Bias, &Tensor::from_slice(&[0.5f64], &[1]).unwrap()).unwrap(); // converted to F32
    assert_eq!(l.kind(), LayerKind::Linear);
    m.add(l).unwrap();
    m.add(Layer::activation(Activation::Relu).unwrap()).unwrap();
    // A Linear layer whose in_features do not follow: refused, and freed.
    let e = m.add(Layer::linear(3, 1, false).unwrap()).unwrap_err();
    assert_eq!(e.status, Status::Shape);
    assert_eq!(m.num_layers(), 2);

    let x = Tensor::from_slice(&[1f32, 1., 0., 3.], &[2, 2]).unwrap();
    let y: Vec<f32> = m.forward(&x).unwrap().to_vec().unwrap();
    assert_eq!(y, vec![1.5, 0.0]);
    let ly: Vec<f32> = m.layer(0).unwrap().forward(&x).unwrap().to_vec().unwrap();
    assert_eq!(ly, vec![1.5, -2.5]);

    // Parameters come back as copies: changing the copy leaves the model alone.
    let mut w = m.layer(0).unwrap().param(Param::Weight).unwrap();
    w.write(&[9f32, 9.]).unwrap();
    assert_eq!(m.layer(0).unwrap().param(Param::Weight).unwrap().to_vec::<f32>().unwrap(), vec![2., -1.]);
    m.layer_mut(0).unwrap().set_param(Param::Weight, &w).unwrap();
    assert_eq!(m.layer(0).unwrap().param(Param::Weight).unwrap().to_vec::<f32>().unwrap(), vec![9., 9.]);
    assert_eq!(m.layer(1).unwrap().param(Param::Weight).unwrap_err().status, Status::InvalidArgument);
    assert_eq!(m.layer(5).unwrap_err().status, Status::InvalidArgument);
    let g: Vec<f32> = m.layer(0).unwrap().grad(Param::Weight).unwrap().to_vec().unwrap();
    assert_eq!(g, vec![0., 0.]);
}

#[test]
fn concurrent_forward_on_one_model() {
    let mut m = Model::mlp(&[8, 16, 4], Activation::Tanh, Activation::Identity).unwrap();
    m.init(Init::XavierNormal, 1).unwrap();
    let x = Tensor::rand_normal(nn::DType::F32, &[32, 8], 0.0, 1.0, 5, Device::Cpu).unwrap();
    let want: Vec<f32> = m.forward(&x).unwrap().to_vec().unwrap();
    std::thread::scope(|s| {
        for _ in 0..4 {
            s.spawn(|| {
                for _ in 0..20 {
                    assert_eq!(m.forward(&x).unwrap().to_vec::<f32>().unwrap(), want);
                }
            });
        }
    });
    // Models, tensors and optimizers move between threads.
    let t = std::thread::spawn(move || {
        let mut m = m;
        let opt = nn::Optimizer::sgd(&mut m, 0.1, 0.0, 0.0, false).unwrap();
        (m, opt, x)
    });
    let (_m, _opt, _x) = t.join().unwrap();
}
