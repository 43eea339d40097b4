//! nn::Comm in one process (a group of one; libnn initialises MPI), or the
//! missing-module error when libnn_mpi.so is absent.
use nn::{Comm, FitOptions, Loss, Model, Optimizer, ReduceOp, Status, Tensor};

#[test]
fn comm_group_of_one() {
    let comm = match Comm::world() {
        Ok(c) => c,
        Err(e) => {
            assert_eq!(e.status, Status::Unsupported);
            assert!(e.message.contains("libnn_mpi.so"), "{}", e.message);
            eprintln!("skipped: {}", e.message);
            return;
        }
    };
    assert_eq!((comm.rank(), comm.size()), (0, 1));
    assert_eq!(format!("{comm:?}"), "Comm(rank=0, size=1)");
    let mut t = Tensor::from_slice(&[1.5f32, -2.0, 3.0], &[3]).unwrap();
    comm.allreduce(&mut t, ReduceOp::Sum).unwrap();
    comm.broadcast(&mut t, 0).unwrap();
    assert_eq!(t.to_vec::<f32>().unwrap(), vec![1.5, -2.0, 3.0]);
    let mut i = Tensor::from_slice(&[1i64, 2], &[2]).unwrap();
    let e = comm.allreduce(&mut i, ReduceOp::Mean).unwrap_err();
    assert_eq!(e.status, Status::Dtype);
    assert!(e.message.contains("MEAN needs a floating dtype"), "{}", e.message);
    let e = comm.broadcast(&mut i, 1).unwrap_err();
    assert_eq!(e.status, Status::InvalidArgument);

    // fit with a group of one equals fit alone
    let x = Tensor::from_slice(&[0.1f32, 0.5, -0.3, 0.8, 0.9, -0.7, 0.2, 0.4], &[4, 2]).unwrap();
    let y = Tensor::from_slice(&[1.0f32, 0.0, 1.0, 0.0], &[4, 1]).unwrap();
    let mut losses = Vec::new();
    for with_comm in [false, true] {
        let mut m = Model::mlp(&[2, 3, 1], nn::Activation::Tanh, nn::Activation::Sigmoid).unwrap();
        m.init(nn::Init::XavierUniform, 2).unwrap();
        let mut opt = Optimizer::sgd(&mut m, 0.5, 0.9, 0.0, false).unwrap();
        let opts = FitOptions {
            epochs: 5,
            batch_size: 2,
            shuffle: false,
            loss: Loss::Bce,
            comm: if with_comm { Some(&comm) } else { None },
            ..Default::default()
        };
        losses.push(m.fit(&mut opt, &x, &y, &opts).unwrap().loss);
    }
    assert_eq!(losses[0], losses[1]);
    let mut m = Model::mlp(&[2, 3, 1], nn::Activation::Tanh, nn::Activation::Sigmoid).unwrap();
    comm.broadcast_model(&mut m, 0).unwrap();
}
