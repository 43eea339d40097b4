//! ONNX export/import round trips and errors.
use nn::{Activation, DType, Device, Init, Model, Status, Tensor};

fn temp_path(name: &str) -> std::path::PathBuf {
    let dir = std::env::var_os("CARGO_TARGET_TMPDIR").map(Into::into).unwrap_or_else(std::env::temp_dir);
    dir.join(format!("nn-rust-onnx-{}-{}", std::process::id(), name))
}

#[test]
fn onnx_round_trip_is_identical() {
    let mut m = Model::mlp(&[5, 7, 3], Activation::LeakyRelu, Activation::Softmax).unwrap();
    m.init(Init::HeNormal, 42).unwrap();
    let x = Tensor::rand_uniform(DType::F32, &[11, 5], -1.0, 1.0, 7, Device::Cpu).unwrap();
    let before: Vec<f32> = m.forward(&x).unwrap().to_vec().unwrap();
    let path = temp_path("rt.onnx");
    m.export_onnx(&path).unwrap();
    let bytes = std::fs::read(&path).unwrap();
    assert!(bytes.windows(4).any(|w| w == b"Gemm"));
    let r = Model::import_onnx(&path, Device::Cpu).unwrap();
    assert_eq!(r.num_layers(), m.num_layers());
    let after: Vec<f32> = r.forward(&x).unwrap().to_vec().unwrap();
    assert_eq!(before.iter().map(|v| v.to_bits()).collect::<Vec<_>>(), after.iter().map(|v| v.to_bits()).collect::<Vec<_>>());
    let _ = std::fs::remove_file(&path);
}

#[test]
fn onnx_errors_name_the_problem() {
    let fixtures = concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/fixtures/onnx");
    let e = Model::import_onnx(format!("{fixtures}/torch_elu.onnx"), Device::Cpu).unwrap_err();
    assert_eq!(e.status, Status::Unsupported);
    assert!(e.message.contains("(op Elu)"), "{}", e.message);
    let m = Model::import_onnx(format!("{fixtures}/torch_gemm_mlp.onnx"), Device::Cpu).unwrap();
    assert_eq!(m.num_layers(), 6);

    let path = temp_path("garbage.onnx");
    std::fs::write(&path, b"\x3a\x05\x01").unwrap();
    let e = Model::import_onnx(&path, Device::Cpu).unwrap_err();
    assert_eq!(e.status, Status::Format);
    assert!(e.message.starts_with("nn_model_import_onnx: "), "{}", e.message);
    let _ = std::fs::remove_file(&path);
    let e = Model::import_onnx(temp_path("missing.onnx"), Device::Cpu).unwrap_err();
    assert_eq!(e.status, Status::Io);
}
