//! Model::predict (nn_model_predict), Model::in_features / out_features and
//! activation_of (nn_layer_activation_of).
use nn::{Activation, DType, Init, Layer, Model, Param, Status, Tensor};

const ACTS: [Activation; 7] = [
    Activation::Identity,
    Activation::Relu,
    Activation::Sigmoid,
    Activation::Tanh,
    Activation::Step,
    Activation::Softmax,
    Activation::LeakyRelu,
];

/// Seeded values in [-2, 2) (a 64-bit LCG: no dependencies).
fn rows_f32(rows: usize, width: usize, seed: u64) -> Vec<f32> {
    let mut s = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
    (0..rows * width)
        .map(|_| {
            s = s.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            ((s >> 40) as f64 / (1u64 << 24) as f64 * 4.0 - 2.0) as f32
        })
        .collect()
}

fn net(hidden: Activation, output: Activation, dtype: DType) -> Model {
    let mut m = Model::mlp(&[10, 40, 33, 5], hidden, output).unwrap();
    m.init(Init::XavierUniform, 7).unwrap();
    m.to_dtype(dtype).unwrap();
    m
}

/// nn_model_forward on the same rows (as the model's dtype), as f32.
fn forward_f32(m: &Model, x: &[f32], rows: usize) -> Vec<f32> {
    let t = Tensor::from_slice(x, &[rows as i64, 10]).unwrap().to_dtype(m.dtype()).unwrap();
    m.forward(&t).unwrap().to_dtype(DType::F32).unwrap().to_vec::<f32>().unwrap()
}

fn bits(v: &[f32]) -> Vec<u32> {
    v.iter().map(|f| f.to_bits()).collect()
}

#[test]
fn hand_computed_values() {
    // y = relu(W x + b), W = [[1, 2], [3, -4], [0.5, 0]], b = [0.25, 0, -1]
    let mut lin = Layer::linear(2, 3, true).unwrap();
    lin.set_param(Param::Weight, &Tensor::from_slice(&[1f32, 2., 3., -4., 0.5, 0.], &[3, 2]).unwrap()).unwrap();
    lin.set_param(Param::Bias, &Tensor::from_slice(&[0.25f32, 0., -1.], &[3]).unwrap()).unwrap();
    let mut m = Model::new().unwrap();
    m.add(lin).unwrap();
    m.add(Layer::activation(Activation::Relu).unwrap()).unwrap();
    let mut y = [f32::NAN; 6];
    m.predict(2, &[1., 1., -2., 0.5], &mut y).unwrap();
    // row 0: (3.25, -1, -0.5); row 1: (-0.75, -8, -2)
    assert_eq!(y, [3.25, 0., 0., 0., 0., 0.]);
    assert_eq!(m.predict_vec(1, &[0., 1.]).unwrap(), vec![2.25, 0., 0.]);
    // zero rows: nothing read or written
    m.predict(0, &[], &mut []).unwrap();
    assert!(m.predict_vec(0, &[]).unwrap().is_empty());
}

fn check_equal_to_forward(dtype: DType) {
    for (a, &hidden) in ACTS.iter().enumerate() {
        let output = if a % 2 == 1 { Activation::Softmax } else { Activation::Identity };
        let m = net(hidden, output, dtype);
        for rows in [1usize, 3, 64, 1000] {
            let x = rows_f32(rows, 10, 100 + rows as u64);
            let mut y = vec![f32::NAN; rows * 5];
            m.predict(rows, &x, &mut y).unwrap();
            assert_eq!(bits(&y), bits(&forward_f32(&m, &x, rows)), "{dtype:?} {hidden:?} rows {rows}");
        }
    }
}

#[test]
fn equals_forward_bit_for_bit_f32() {
    check_equal_to_forward(DType::F32);
}

#[test]
fn equals_forward_bit_for_bit_f64() {
    check_equal_to_forward(DType::F64);
}

#[test]
fn threads_share_one_model() {
    for dtype in [DType::F32, DType::F64] {
        let m = net(Activation::Tanh, Activation::Softmax, dtype);
        let xs: Vec<Vec<f32>> = (0..8).map(|t| rows_f32(1 + 37 * t, 10, 500 + t as u64)).collect();
        let want: Vec<Vec<f32>> = xs.iter().map(|x| m.predict_vec(x.len() / 10, x).unwrap()).collect();
        std::thread::scope(|s| {
            let handles: Vec<_> = (0..8)
                .map(|t| {
                    let (m, x, w) = (&m, &xs[t], &want[t]);
                    s.spawn(move || {
                        let mut y = vec![0f32; w.len()];
                        for _ in 0..50 {
                            m.predict(x.len() / 10, x, &mut y).unwrap();
                            assert_eq!(bits(&y), bits(w));
                        }
                    })
                })
                .collect();
            for h in handles {
                h.join().unwrap();
            }
        });
    }
}

#[test]
fn slice_lengths_are_checked() {
    let m = net(Activation::Relu, Activation::Identity, DType::F32);
    let mut y = vec![0f32; 10];
    let e = m.predict(2, &[0.5; 19], &mut y).unwrap_err();
    assert_eq!(e.status, Status::InvalidArgument);
    assert_eq!(e.message, "Model::predict: x has 19 floats; 2 rows of 10 in_features need 20");
    let e = m.predict(2, &[0.5; 20], &mut y[..9]).unwrap_err();
    assert_eq!(e.status, Status::InvalidArgument);
    assert_eq!(e.message, "Model::predict: y has 9 floats; 2 rows of 5 out_features need 10");
    let e = m.predict(2, &[0.5; 20], &mut [0f32; 11]).unwrap_err(); // longer is refused too
    assert!(e.message.contains("y has 11 floats"), "{}", e.message);
    let e = m.predict(usize::MAX, &[], &mut []).unwrap_err();
    assert_eq!(e.status, Status::InvalidArgument);
    assert!(e.message.contains("too large"), "{}", e.message);
    let e = m.predict_vec(usize::MAX / 2, &[]).unwrap_err();
    assert!(e.message.contains("too large"), "{}", e.message);
    // y untouched by a refused call
    let mut y = vec![7f32; 5];
    assert!(m.predict(1, &[0.; 9], &mut y).is_err());
    assert_eq!(y, vec![7f32; 5]);
}

#[test]
fn libnn_errors_carry_its_message() {
    for m in [Model::new().unwrap(), {
        let mut m = Model::new().unwrap();
        m.add(Layer::activation(Activation::Tanh).unwrap()).unwrap();
        m
    }] {
        let e = m.predict(1, &[1.0, 2.0], &mut [0.0; 2]).unwrap_err();
        assert_eq!(e.status, Status::InvalidArgument);
        assert_eq!(e.message, "nn_model_predict: the model has no Linear layer, so its input width is unknown");
        assert_eq!(m.predict_vec(1, &[1.0]).unwrap_err().message, e.message);
    }
}

#[test]
fn introspection() {
    let m = net(Activation::Relu, Activation::Softmax, DType::F32);
    assert_eq!((m.in_features(), m.out_features()), (Some(10), Some(5)));
    let mut m = Model::new().unwrap();
    assert_eq!((m.in_features(), m.out_features()), (None, None));
    m.add(Layer::activation(Activation::Sigmoid).unwrap()).unwrap();
    assert_eq!((m.in_features(), m.out_features()), (None, None));
    m.add(Layer::linear(6, 4, true).unwrap()).unwrap();
    m.add(Layer::activation(Activation::Relu).unwrap()).unwrap();
    m.add(Layer::linear(4, 9, false).unwrap()).unwrap();
    m.add(Layer::activation(Activation::Softmax).unwrap()).unwrap();
    assert_eq!((m.in_features(), m.out_features()), (Some(6), Some(9)));
    let want = [Some(Activation::Sigmoid), None, Some(Activation::Relu), None, Some(Activation::Softmax)];
    let got: Vec<_> = (0..m.num_layers()).map(|i| m.layer(i).unwrap().activation_of()).collect();
    assert_eq!(got, want);
    assert_eq!(m.layer_mut(2).unwrap().activation_of(), Some(Activation::Relu));
    for act in ACTS {
        assert_eq!(Layer::activation(act).unwrap().activation_of(), Some(act));
    }
    assert_eq!(Layer::linear(3, 2, true).unwrap().activation_of(), None);
    // a loaded model keeps them
    let loaded = Model::load_bytes(&m.save_bytes().unwrap(), nn::Device::Cpu).unwrap();
    assert_eq!((loaded.in_features(), loaded.out_features()), (Some(6), Some(9)));
    let got: Vec<_> = (0..loaded.num_layers()).map(|i| loaded.layer(i).unwrap().activation_of()).collect();
    assert_eq!(got, want);
}
