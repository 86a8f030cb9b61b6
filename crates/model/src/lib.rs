//! BERT on libtorch through `tch`.
//!
//! So far this crate holds the device layer shared by the training stages: parsing a device name
//! (`cpu`, `cuda`, `cuda:N`, `auto`) and reporting what the linked libtorch can do. The BERT
//! modules, heads and the Hugging Face checkpoint loader follow (issue #3).
#![deny(missing_docs)]

mod device;

pub use device::{parse_device, runtime_report, DeviceError, RuntimeReport};
