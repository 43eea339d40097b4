//! Data files, row selection and metrics (nn.h group "data").
use nn::{confusion_matrix, metric, DType, Device, Metric, Status, Tensor};

fn temp_path(name: &str) -> std::path::PathBuf {
    let dir = std::env::var_os("CARGO_TARGET_TMPDIR").map(Into::into).unwrap_or_else(std::env::temp_dir);
    dir.join(format!("nn-rust-data-{}-{}", std::process::id(), name))
}

#[test]
fn npy_round_trip_and_errors() {
    let t = Tensor::from_slice(&[1i32, 2, 3, 4, 5, 6], &[2, 3]).unwrap();
    let p = temp_path("a.npy");
    t.save_npy(&p).unwrap();
    let b = Tensor::load_npy(&p, Device::Cpu).unwrap();
    assert_eq!(b.dtype(), DType::I32);
    assert_eq!(b.shape(), vec![2, 3]);
    assert_eq!(b.to_vec::<i32>().unwrap(), vec![1, 2, 3, 4, 5, 6]);
    std::fs::write(&p, b"\x93NUMPY\x01\x00\x04\x00{}\n\n").unwrap();
    let e = Tensor::load_npy(&p, Device::Cpu).unwrap_err();
    assert_eq!(e.status, Status::Format);
    assert!(e.message.starts_with("nn_tensor_load_npy"), "{}", e.message);
    std::fs::remove_file(&p).ok();
}

#[test]
fn csv_values_and_line_column_errors() {
    let p = temp_path("a.csv");
    std::fs::write(&p, "a;b\n1;2.5\n3;4\n").unwrap();
    let t = Tensor::load_csv(&p, b';', 1, DType::F64, Device::Cpu).unwrap();
    assert_eq!(t.shape(), vec![2, 2]);
    assert_eq!(t.to_vec::<f64>().unwrap(), vec![1.0, 2.5, 3.0, 4.0]);
    std::fs::write(&p, "1,2\n3,zz\n").unwrap();
    let e = Tensor::load_csv(&p, b',', 0, DType::F32, Device::Cpu).unwrap_err();
    assert_eq!(e.status, Status::Format);
    assert!(e.message.contains("line 2, column 2"), "{}", e.message);
    std::fs::remove_file(&p).ok();
}

#[test]
fn slice_index_select_concat() {
    let t = Tensor::from_slice(&[0f32, 1., 2., 3., 4., 5.], &[3, 2]).unwrap();
    let s = t.slice(0, 1, 3).unwrap();
    assert_eq!(s.to_vec::<f32>().unwrap(), vec![2., 3., 4., 5.]);
    let idx = Tensor::from_slice(&[2i64, 0], &[2]).unwrap();
    let r = t.index_select(0, &idx).unwrap();
    assert_eq!(r.to_vec::<f32>().unwrap(), vec![4., 5., 0., 1.]);
    let c = Tensor::concat(&[&s, &r], 0).unwrap();
    assert_eq!(c.shape(), vec![4, 2]);
    let e = Tensor::concat(&[], 0).unwrap_err();
    assert_eq!(e.status, Status::InvalidArgument);
    let bad = Tensor::from_slice(&[5i64], &[1]).unwrap();
    assert_eq!(t.index_select(0, &bad).unwrap_err().status, Status::InvalidArgument);
}

#[test]
fn metrics() {
    let p = Tensor::from_slice(&[2.5f64, 0.0, 2.0, 8.0], &[4]).unwrap();
    let y = Tensor::from_slice(&[3.0f64, -0.5, 2.0, 7.0], &[4]).unwrap();
    // scikit-learn: mean_absolute_error = 0.5, r2_score = 0.9486081370449679
    assert!((metric(Metric::Mae, &p, &y).unwrap() - 0.5).abs() < 1e-15);
    assert!((metric(Metric::R2, &p, &y).unwrap() - 0.9486081370449679).abs() < 1e-12);
    assert!((metric(Metric::Rmse, &p, &y).unwrap() - 0.6123724356957945).abs() < 1e-12);
    let scores = Tensor::from_slice(&[0.9f32, 0.1, 0.2, 0.8, 0.6, 0.4], &[3, 2]).unwrap();
    let ids = Tensor::from_slice(&[0i64, 1, 1], &[3]).unwrap();
    assert!((metric(Metric::Accuracy, &scores, &ids).unwrap() - 2.0 / 3.0).abs() < 1e-15);
    let cm = confusion_matrix(&scores, &ids, 2).unwrap();
    assert_eq!(cm.to_vec::<i64>().unwrap(), vec![1, 0, 1, 1]);
}
