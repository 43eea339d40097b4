//! Errors (status + message), tensor basics, raw layout checks.
use nn::{sys, BinaryOp, DType, Device, Error, ReduceOp, Status, Tensor, UnaryOp};

#[test]
fn errors_carry_status_and_message() {
    let e = Tensor::zeros(DType::F32, &[2, -3], Device::Cpu).unwrap_err();
    assert_eq!(e.status, Status::InvalidArgument);
    assert!(e.message.starts_with("nn_tensor_zeros"), "{}", e.message);
    assert!(e.message.contains("shape[1]"), "{}", e.message);

    let a = Tensor::zeros(DType::F32, &[2, 3], Device::Cpu).unwrap();
    let b = Tensor::zeros(DType::F32, &[4], Device::Cpu).unwrap();
    let e = a.add(&b).unwrap_err();
    assert_eq!(e.status, Status::Shape);
    assert!(e.message.contains("[2, 3]") && e.message.contains("[4]"), "{}", e.message);
    let shown = e.to_string();
    assert!(shown.contains(&e.message) && shown.contains(Status::Shape.description()), "{shown}");
    let boxed: Box<dyn std::error::Error> = Box::new(e.clone());
    assert_eq!(boxed.to_string(), shown);

    let e = Tensor::zeros(DType::F32, &[1], Device::Cuda(0)).unwrap_err();
    assert_eq!(e.status, Status::Device);
    let e = Tensor::from_slice(&[1f32, 2.], &[3]).unwrap_err();
    assert_eq!(e.status, Status::InvalidArgument);
    let e = a.to_vec::<f64>().unwrap_err();
    assert_eq!(e.status, Status::Dtype);
    let i = Tensor::from_slice(&[1i64, 2], &[2]).unwrap();
    assert_eq!(i.mean(None).unwrap_err().status, Status::Dtype);

    assert_eq!(Status::from_raw(sys::NN_OK), None);
    assert_eq!(Status::from_raw(sys::NN_ERR_FORMAT), Some(Status::Format));
    assert_eq!(Status::from_raw(12345), Some(Status::Other(12345)));
    assert_eq!(Status::Cancelled.code(), sys::NN_ERR_CANCELLED);
    let _: Error = Error::new(Status::Internal, "x");
}

#[test]
fn tensor_basics() {
    let a = Tensor::from_slice(&[4i64, 5, 6, 7, 8, 9], &[2, 3]).unwrap();
    let x = Tensor::arange(1.0, 4.0, 1.0, DType::I64, Device::Cpu).unwrap();
    let sum = a.add(&x).unwrap();
    assert_eq!(sum.shape(), vec![2, 3]);
    assert_eq!(sum.dtype(), DType::I64);
    assert_eq!(sum.to_vec::<i64>().unwrap(), vec![5, 7, 9, 8, 10, 12]);
    assert_eq!(sum.to_string(), "tensor([[ 5,  7,  9],\n        [ 8, 10, 12]])");
    assert_eq!(a.scalar(BinaryOp::Add, 1.0).unwrap().to_vec::<i64>().unwrap(), vec![5, 6, 7, 8, 9, 10]);
    assert_eq!(a.scalar(BinaryOp::Mul, 0.5).unwrap().dtype(), DType::F32);

    let t = a.transpose(0, 1).unwrap();
    assert_eq!(t.shape(), vec![3, 2]);
    assert_eq!(t.to_vec::<i64>().unwrap(), vec![4, 7, 5, 8, 6, 9]);
    let mm = a.matmul(&t).unwrap();
    assert_eq!(mm.to_vec::<i64>().unwrap(), vec![16 + 25 + 36, 28 + 40 + 54, 28 + 40 + 54, 49 + 64 + 81]);
    assert_eq!(a.sum(None).unwrap().item().unwrap(), 39.0);
    assert_eq!(a.sum(None).unwrap().ndim(), 0);
    assert_eq!(a.reduce(ReduceOp::Max, Some(1), true).unwrap().shape(), vec![2, 1]);
    assert_eq!(a.argmax(Some(-1)).unwrap().to_vec::<i64>().unwrap(), vec![2, 2]);

    let f = a.to_dtype(DType::F32).unwrap();
    let s = f.unary(UnaryOp::Sqrt).unwrap();
    assert!((s.to_vec::<f32>().unwrap()[0] - 2.0).abs() < 1e-6);
    assert_eq!(f.as_slice::<f32>().unwrap(), &[4., 5., 6., 7., 8., 9.]);
    assert!(t.as_slice::<i64>().is_none(), "a transposed view is not contiguous");
    let h = f.to_dtype(DType::F16).unwrap();
    assert_eq!(h.nbytes(), 12);
    assert_eq!(h.to_vec_f64().unwrap(), vec![4., 5., 6., 7., 8., 9.]);

    // Views share storage: writes are refused while a view lives.
    let mut base = Tensor::zeros(DType::F32, &[2, 2], Device::Cpu).unwrap();
    let view = base.reshape(&[4]).unwrap();
    assert_eq!(base.write(&[1f32, 2., 3., 4.]).unwrap_err().status, Status::InvalidArgument);
    assert!(base.as_mut_slice::<f32>().is_none());
    drop(view);
    base.write(&[1f32, 2., 3., 4.]).unwrap();
    base.as_mut_slice::<f32>().unwrap()[0] = 10.0;
    assert_eq!(base.to_vec::<f32>().unwrap(), vec![10., 2., 3., 4.]);
    assert_eq!(base.write(&[1f32]).unwrap_err().status, Status::InvalidArgument);
    let c = base.clone();
    base.write(&[0f32; 4]).unwrap();
    assert_eq!(c.to_vec::<f32>().unwrap(), vec![10., 2., 3., 4.]);

    let full = Tensor::full(DType::U8, &[3], 300.0, Device::Cpu).unwrap();
    assert_eq!(full.to_vec::<u8>().unwrap(), vec![44, 44, 44]);
    let r = Tensor::rand_uniform(DType::F64, &[100], 0.0, 1.0, 9, Device::Cpu).unwrap();
    assert!(r.to_vec::<f64>().unwrap().iter().all(|v| (0.0..1.0).contains(v)));
    let e = Tensor::zeros(DType::F32, &[0, 3], Device::Cpu).unwrap();
    assert_eq!(e.numel(), 0);
    assert_eq!(e.as_slice::<f32>().unwrap().len(), 0);
    let bytes = Tensor::from_bytes(DType::I16, &[2], &[1, 0, 2, 0], Device::Cpu).unwrap();
    assert_eq!(bytes.to_vec::<i16>().unwrap(), vec![1, 2]);
    assert_eq!(bytes.to_bytes().unwrap(), vec![1, 0, 2, 0]);
    let sc = Tensor::scalar_value(3.5f64).unwrap();
    assert_eq!(sc.shape(), Vec::<i64>::new());
    assert_eq!(sc.to_string(), "tensor(3.5000, dtype=torch.float64)");

    // Least squares: y = 2x + 1.
    let xa = Tensor::from_slice(&[0f64, 1., 1., 1., 2., 1., 3., 1.], &[4, 2]).unwrap();
    let yb = Tensor::from_slice(&[1f64, 3., 5., 7.], &[4]).unwrap();
    let w = xa.lstsq(&yb).unwrap().to_vec::<f64>().unwrap();
    assert!((w[0] - 2.0).abs() < 1e-12 && (w[1] - 1.0).abs() < 1e-12, "{w:?}");

    let (l, g) = nn::loss_and_grad(nn::Loss::Mse, &yb, &Tensor::zeros(DType::F64, &[4], Device::Cpu).unwrap()).unwrap();
    assert_eq!(l, (1.0 + 9.0 + 25.0 + 49.0) / 4.0);
    assert_eq!(g.to_vec::<f64>().unwrap(), vec![0.5, 1.5, 2.5, 3.5]);
}

#[test]
fn version_devices_and_layout() {
    assert_eq!(nn::version(), sys::NN_VERSION_MAJOR * 10000 + sys::NN_VERSION_MINOR * 100 + sys::NN_VERSION_PATCH);
    assert_eq!(nn::version_string(), "0.1.0");
    assert_eq!(nn::device_count(sys::NN_CPU), 1);
    assert!(Device::cuda_count() >= 0);
    assert_eq!(DType::BF16.size(), 2);
    assert_eq!(DType::from_raw(-1), None);
    nn::set_num_threads(0).unwrap();

    // nn_fit_options: the defaults land in the right fields.
    let mut o = std::mem::MaybeUninit::<sys::nn_fit_options>::zeroed();
    let o = unsafe {
        sys::nn_fit_options_init(o.as_mut_ptr());
        o.assume_init()
    };
    assert_eq!(o.version, sys::NN_FIT_OPTIONS_VERSION);
    assert_eq!((o.epochs, o.batch_size, o.shuffle, o.seed, o.loss, o.patience), (10, 32, true, 0, sys::NN_LOSS_MSE, 0));
    assert!(o.val_x.is_null() && o.val_y.is_null() && o.on_epoch.is_none() && o.user_data.is_null());
    assert!(o.comm.is_null() && o.on_batch.is_none() && o.batch_every == 0);
    assert_eq!(std::mem::size_of::<sys::nn_fit_options>(), 104); // version 2
    assert_eq!(std::mem::size_of::<sys::nn_batch_report>(), 40);
    assert_eq!(std::mem::size_of::<sys::nn_epoch_report>(), 48);
    assert_eq!(std::mem::size_of::<sys::nn_device>(), 8);
    let d = unsafe { sys::nn_tensor_device(std::ptr::null()) };
    assert_eq!((d.type_, d.index), (0, -1));
    assert_eq!(unsafe { sys::nn_tensor_dtype(std::ptr::null()) }, -1);
}
