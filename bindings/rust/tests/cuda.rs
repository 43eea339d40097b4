//! The crate on a GPU: the same calls on `Device::Cuda(0)` give the CPU's
//! results. Without a usable GPU each test prints libnn's reason (no
//! libnn_cuda.so, no driver, or no GPU) and returns: cargo has no skip.
use nn::{Activation, Device, FitOptions, Init, Loss, Model, Optimizer, Param, Tensor};

/// None when cuda:0 works, else why not (and the test should return).
fn unavailable(test: &str) -> Option<String> {
    match Tensor::zeros(nn::DType::F32, &[1], Device::Cuda(0)) {
        Ok(_) => None,
        Err(e) => {
            eprintln!("skipped: {test}: no CUDA device: {}", e.message);
            Some(e.message)
        }
    }
}

fn data(device: Device) -> (Tensor, Tensor) {
    let x: Vec<f32> = (0..48 * 4).map(|k| (((k / 4) * 7 + (k % 4) * 3) % 11) as f32 / 11.0 - 0.5).collect();
    let y: Vec<f32> = (0..48 * 2).map(|k| (((k / 2) * 5 + k % 2) % 3) as f32 - 1.0).collect();
    (Tensor::from_slice_on(&x, &[48, 4], device).unwrap(), Tensor::from_slice_on(&y, &[48, 2], device).unwrap())
}

/// A seeded 4-16-2 tanh net fitted with SGD momentum, minibatches of 8.
fn trained(device: Device, epochs: i32) -> Model {
    let (x, y) = data(device);
    let mut m = Model::mlp(&[4, 16, 2], Activation::Tanh, Activation::Identity).unwrap();
    m.init(Init::XavierUniform, 11).unwrap();
    m.to_device(device).unwrap();
    let mut opt = Optimizer::sgd(&mut m, 0.05, 0.9, 0.0, false).unwrap();
    let opts = FitOptions { epochs, batch_size: 8, seed: 5, loss: Loss::Mse, ..Default::default() };
    m.fit(&mut opt, &x, &y, &opts).unwrap();
    m
}

fn params(m: &Model) -> Vec<f32> {
    let mut v = Vec::new();
    for i in [0usize, 2] {
        let l = m.layer(i).unwrap();
        for p in [Param::Weight, Param::Bias] {
            v.extend(l.param(p).unwrap().to_device(Device::Cpu).unwrap().to_vec::<f32>().unwrap());
        }
    }
    v
}

#[test]
fn fit_on_gpu_matches_cpu() {
    if unavailable("fit_on_gpu_matches_cpu").is_some() {
        return;
    }
    let cpu = params(&trained(Device::Cpu, 30));
    let gpu = params(&trained(Device::Cuda(0), 30));
    assert_eq!(cpu.len(), gpu.len());
    for (i, (a, b)) in cpu.iter().zip(&gpu).enumerate() {
        let tol = 1e-4 * a.abs().max(b.abs()) + 1e-6;
        assert!((a - b).abs() <= tol, "parameter element {i}: cpu {a} vs cuda {b}");
    }
}

#[test]
fn save_on_gpu_load_on_cpu() {
    if unavailable("save_on_gpu_load_on_cpu").is_some() {
        return;
    }
    let m = trained(Device::Cuda(0), 3);
    let path = std::env::temp_dir().join(format!("nn_rust_cuda_{}.safetensors", std::process::id()));
    m.save(&path).unwrap();
    let back = Model::load(&path, Device::Cpu).unwrap();
    std::fs::remove_file(&path).ok();
    assert_eq!(params(&m), params(&back));
}
