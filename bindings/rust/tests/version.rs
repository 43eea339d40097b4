//! The load-time version check, with the library's answer faked through
//! NN_BINDING_TEST_VERSION. Its own test binary (one test): the verdict is
//! cached for the process, so it must be the first call into the crate.
use nn::{DType, Device, Status, Tensor};

#[test]
fn another_major_version_is_refused_with_a_clear_message() {
    let real = nn::version();
    // The real library is of this crate's major version: the check passes for it.
    assert_eq!(real / 10000, nn::sys::NN_VERSION_MAJOR);
    std::env::set_var("NN_BINDING_TEST_VERSION", (real + 10000).to_string());
    let e = nn::check_version().unwrap_err();
    assert_eq!(e.status, Status::Unsupported);
    let want = format!(
        "the loaded libnn is version {}.{}.{} but this crate (nn {}) needs libnn {}.x",
        real / 10000 + 1,
        real / 100 % 100,
        real % 100,
        env!("CARGO_PKG_VERSION"),
        nn::sys::NN_VERSION_MAJOR
    );
    assert!(e.message.starts_with(&want), "{}", e.message);
    // Every handle-creating call is refused the same way.
    let e = Tensor::zeros(DType::F32, &[2], Device::Cpu).unwrap_err();
    assert_eq!(e.status, Status::Unsupported);
    assert!(e.message.starts_with(&want), "{}", e.message);
}
