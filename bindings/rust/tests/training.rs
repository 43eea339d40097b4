//! Training: XOR and the UCI digits, through the safe API.
use nn::{Activation, DType, Device, FitOptions, Init, Loss, Model, Optimizer, Status, Tensor};
use std::ops::ControlFlow;

fn xor_data() -> (Tensor, Tensor) {
    let x = Tensor::from_slice(&[0f32, 0., 0., 1., 1., 0., 1., 1.], &[4, 2]).unwrap();
    let y = Tensor::from_slice(&[0f32, 1., 1., 0.], &[4, 1]).unwrap();
    (x, y)
}

#[test]
fn xor_learns_all_four() {
    let (x, y) = xor_data();
    let mut model = Model::mlp(&[2, 8, 1], Activation::Tanh, Activation::Sigmoid).unwrap();
    assert_eq!(model.num_layers(), 4);
    assert_eq!(model.num_params(), 2 * 8 + 8 + 8 + 1);
    let mut opt = Optimizer::adam(&mut model, 0.05, 0.9, 0.999, 1e-8, 0.0, false).unwrap();
    let opts = FitOptions { epochs: 300, batch_size: 0, loss: Loss::Bce, ..Default::default() };
    let mut epochs_seen = 0;
    let last = model
        .fit_with(&mut opt, &x, &y, &opts, |r| {
            assert_eq!(r.epoch, epochs_seen);
            assert_eq!(r.epochs, 300);
            assert!(r.loss.is_finite());
            assert!(r.val_loss.is_nan());
            epochs_seen += 1;
            ControlFlow::Continue(())
        })
        .unwrap();
    assert_eq!(epochs_seen, 300);
    assert_eq!(last.epoch, 299);
    let p: Vec<f32> = model.forward(&x).unwrap().to_vec().unwrap();
    let want = [0., 1., 1., 0.];
    let correct = p.iter().zip(want).filter(|(p, w)| ((**p >= 0.5) as i32 as f32) == *w).count();
    assert_eq!(correct, 4, "predictions {p:?}");
    let (loss, acc) = model.evaluate(&x, &y, Loss::Bce).unwrap();
    assert!(loss < 0.2, "loss {loss}");
    assert_eq!(acc, 1.0);
}

#[test]
fn manual_training_loop_matches_api() {
    // zero_grad / backward / step by hand, SGD with a StepLR schedule.
    let (x, y) = xor_data();
    let mut model = Model::mlp(&[2, 4, 1], Activation::Tanh, Activation::Sigmoid).unwrap();
    model.init(Init::XavierUniform, 3).unwrap();
    let mut opt = Optimizer::sgd(&mut model, 0.5, 0.9, 0.0, false).unwrap();
    opt.set_step_lr(10, 0.5).unwrap();
    let first = model.backward(&x, &y, Loss::Mse).unwrap();
    opt.zero_grad(&mut model).unwrap();
    let mut loss = first;
    for _ in 0..20 {
        opt.zero_grad(&mut model).unwrap();
        loss = model.backward(&x, &y, Loss::Mse).unwrap();
        opt.step(&mut model).unwrap();
        opt.epoch_end().unwrap();
    }
    assert!(loss < first, "{loss} !< {first}");
    assert!((opt.lr() - 0.125).abs() < 1e-12, "lr {}", opt.lr());
    opt.set_lr(0.01).unwrap();
    assert_eq!(opt.lr(), 0.01);
}

#[test]
fn optimizer_of_another_model_is_refused() {
    let (x, y) = xor_data();
    let mut a = Model::mlp(&[2, 2, 1], Activation::Tanh, Activation::Sigmoid).unwrap();
    let mut b = Model::mlp(&[2, 2, 1], Activation::Tanh, Activation::Sigmoid).unwrap();
    let mut opt = Optimizer::sgd(&mut a, 0.1, 0.0, 0.0, false).unwrap();
    let e = b.fit(&mut opt, &x, &y, &FitOptions::default()).unwrap_err();
    assert_eq!(e.status, Status::InvalidArgument);
    assert_eq!(opt.step(&mut b).unwrap_err().status, Status::InvalidArgument);
    // The model may be dropped before its optimizer: the C model lives on.
    drop(a);
    assert_eq!(opt.lr(), 0.1);
    drop(opt);
}

#[test]
fn callback_break_cancels_and_panic_propagates() {
    let (x, y) = xor_data();
    let mut model = Model::mlp(&[2, 4, 1], Activation::Tanh, Activation::Sigmoid).unwrap();
    let mut opt = Optimizer::adam(&mut model, 0.01, 0.9, 0.999, 1e-8, 0.0, false).unwrap();
    let opts = FitOptions { epochs: 50, batch_size: 0, loss: Loss::Bce, ..Default::default() };
    let mut n = 0;
    let mut seen = Vec::new();
    // The cancel rule: Break stops training and fit_with returns Ok, the last
    // report marked cancelled (C's NN_ERR_CANCELLED is not an error).
    let r = model
        .fit_with(&mut opt, &x, &y, &opts, |r| {
            n += 1;
            seen.push(r.loss);
            if r.epoch == 2 { ControlFlow::Break(()) } else { ControlFlow::Continue(()) }
        })
        .expect("a callback that stops training is not an error");
    assert_eq!(n, 3);
    assert!(r.cancelled);
    assert_eq!(r.epoch, 2);
    assert_eq!(r.epochs, 50);
    assert_eq!(r.loss, seen[2]);
    // A run the callback lets finish is not marked.
    let full = model
        .fit_with(&mut opt, &x, &y, &FitOptions { epochs: 3, ..opts }, |_| ControlFlow::Continue(()))
        .unwrap();
    assert!(!full.cancelled);
    assert_eq!(full.epoch, 2);

    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        model.fit_with(&mut opt, &x, &y, &opts, |r| {
            if r.epoch == 1 {
                panic!("boom in callback");
            }
            ControlFlow::Continue(())
        })
    }));
    let payload = r.expect_err("the panic must come back out of fit_with");
    assert_eq!(payload.downcast_ref::<&str>(), Some(&"boom in callback"));
    // The model is still usable.
    model.forward(&x).unwrap();
}

/// splitmix64, as examples/digits.c.
fn next_random(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9E3779B97F4A7C15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58476D1CE4E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D049BB133111EB);
    z ^ (z >> 31)
}

#[test]
fn digits_reach_95_percent() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../examples/data/digits.csv");
    let text = std::fs::read_to_string(path).expect("examples/data/digits.csv");
    let rows: Vec<Vec<i64>> = text
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| l.split(',').map(|v| v.trim().parse().unwrap()).collect())
        .collect();
    assert_eq!(rows.len(), 1797);
    assert!(rows.iter().all(|r| r.len() == 65));

    // The split of examples/digits.c: seeded Fisher-Yates, last 360 for testing.
    let mut order: Vec<usize> = (0..rows.len()).collect();
    let mut rng = 2024u64;
    for i in (1..order.len()).rev() {
        let k = (next_random(&mut rng) % (i as u64 + 1)) as usize;
        order.swap(i, k);
    }
    let set = |idx: &[usize]| {
        let x: Vec<f32> = idx.iter().flat_map(|&i| rows[i][..64].iter().map(|&v| v as f32 / 16.0)).collect();
        let y: Vec<i64> = idx.iter().map(|&i| rows[i][64]).collect();
        (Tensor::from_slice(&x, &[idx.len() as i64, 64]).unwrap(), Tensor::from_slice(&y, &[idx.len() as i64]).unwrap())
    };
    let (train_idx, test_idx) = order.split_at(1797 - 360);
    let (xtr, ytr) = set(train_idx);
    let (xte, yte) = set(test_idx);

    let mut model = Model::mlp(&[64, 64, 10], Activation::Relu, Activation::Identity).unwrap();
    let mut opt = Optimizer::adam(&mut model, 1e-3, 0.9, 0.999, 1e-8, 0.0, false).unwrap();
    let opts = FitOptions {
        epochs: 30,
        batch_size: 32,
        shuffle: true,
        seed: 1,
        loss: Loss::CrossEntropy,
        validation: Some((&xte, &yte)),
        ..Default::default()
    };
    let last = model.fit(&mut opt, &xtr, &ytr, &opts).unwrap();
    assert!(last.val_accuracy >= 0.95, "val accuracy {}", last.val_accuracy);

    let predicted = model.predict_classes(&xte).unwrap();
    let expected: Vec<i64> = yte.to_vec().unwrap();
    let correct = predicted.iter().zip(&expected).filter(|(a, b)| a == b).count();
    let acc = correct as f64 / 360.0;
    assert!(acc >= 0.95, "test accuracy {acc}");
    let (_, eval_acc) = model.evaluate(&xte, &yte, Loss::CrossEntropy).unwrap();
    assert!((eval_acc - acc).abs() < 1e-9);
    assert!(model.summary().unwrap().contains("Linear(64, 64)"));
    assert_eq!(model.dtype(), DType::F32);
    assert_eq!(model.device(), Device::Cpu);
}
