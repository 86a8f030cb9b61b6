//! The C ABI of `shim/c10d.cpp`, and safe wrappers that turn its error strings into Rust strings.

use std::ffi::{c_char, c_int, CStr, CString};

use torch_sys::C_tensor;

/// `dist_pg_create` succeeded.
pub(crate) const CODE_OK: c_int = 0;
/// The TCPStore server could not bind its port because something else holds it.
pub(crate) const CODE_PORT_IN_USE: c_int = 2;
/// The backend is unknown or was not compiled in.
pub(crate) const CODE_UNSUPPORTED: c_int = 3;

/// Opaque process group of the shim (a c10d store and backend).
#[repr(C)]
pub(crate) struct DistPg {
    _private: [u8; 0],
}

extern "C" {
    fn dist_error_free(message: *mut c_char);
    fn dist_pg_create(
        backend: *const c_char,
        addr: *const c_char,
        port: u16,
        rank: c_int,
        world_size: c_int,
        timeout_ms: i64,
        host_store: c_int,
        store_prefix: *const c_char,
        device_index: c_int,
        out: *mut *mut DistPg,
        error: *mut *mut c_char,
    ) -> c_int;
    fn dist_pg_all_reduce_sum(pg: *mut DistPg, tensor: *const C_tensor) -> *mut c_char;
    fn dist_pg_broadcast(pg: *mut DistPg, tensor: *const C_tensor, root: c_int) -> *mut c_char;
    fn dist_pg_barrier(pg: *mut DistPg) -> *mut c_char;
    fn dist_pg_free(pg: *mut DistPg);
}

/// Takes ownership of an error string from the shim; `None` for a null pointer (success).
fn take_error(message: *mut c_char) -> Option<String> {
    if message.is_null() {
        return None;
    }
    // SAFETY: the shim returns either null or a NUL-terminated string from malloc, which is ours
    // to read once and free with dist_error_free.
    let text = unsafe { CStr::from_ptr(message) }.to_string_lossy().into_owned();
    // SAFETY: see above; the pointer is not used again.
    unsafe { dist_error_free(message) };
    Some(text)
}

/// Arguments of [`Handle::create`].
pub(crate) struct CreateArgs<'a> {
    pub backend: &'a str,
    pub addr: &'a str,
    pub port: u16,
    pub rank: usize,
    pub world_size: usize,
    pub timeout_ms: i64,
    pub host_store: bool,
    pub store_prefix: &'a str,
    pub device_index: i32,
}

/// Owns a shim process group; freed on drop.
pub(crate) struct Handle(*mut DistPg);

fn c_string(what: &str, value: &str) -> Result<CString, (c_int, String)> {
    CString::new(value).map_err(|_| (CODE_UNSUPPORTED, format!("{what} {value:?} contains a NUL byte")))
}

impl Handle {
    /// Creates the store and process group. Errors are the shim's code and message.
    pub(crate) fn create(args: &CreateArgs<'_>) -> Result<Handle, (c_int, String)> {
        let backend = c_string("backend", args.backend)?;
        let addr = c_string("address", args.addr)?;
        let prefix = c_string("store prefix", args.store_prefix)?;
        let rank = c_int::try_from(args.rank).map_err(|_| (CODE_UNSUPPORTED, "rank too large".to_owned()))?;
        let world =
            c_int::try_from(args.world_size).map_err(|_| (CODE_UNSUPPORTED, "world size too large".to_owned()))?;
        let mut out: *mut DistPg = std::ptr::null_mut();
        let mut error: *mut c_char = std::ptr::null_mut();
        // SAFETY: every pointer is valid for the call (the CStrings outlive it); the shim catches all
        // C++ exceptions and reports through `out`/`error`.
        let code = unsafe {
            dist_pg_create(
                backend.as_ptr(),
                addr.as_ptr(),
                args.port,
                rank,
                world,
                args.timeout_ms,
                c_int::from(args.host_store),
                prefix.as_ptr(),
                args.device_index,
                &mut out,
                &mut error,
            )
        };
        let message = take_error(error);
        if code == CODE_OK && !out.is_null() {
            return Ok(Handle(out));
        }
        Err((code, message.unwrap_or_else(|| format!("the shim returned code {code} without a message"))))
    }

    /// In-place SUM all-reduce of one dense contiguous tensor.
    pub(crate) fn all_reduce_sum(&self, tensor: &tch::Tensor) -> Result<(), String> {
        // SAFETY: self.0 is a live process group; the tensor pointer is a live `at::Tensor*` owned
        // by `tensor`, which outlives the call (the shim waits for completion).
        take_error(unsafe { dist_pg_all_reduce_sum(self.0, tensor.as_ptr()) }).map_or(Ok(()), Err)
    }

    /// In-place broadcast of one dense contiguous tensor from `root`.
    pub(crate) fn broadcast(&self, tensor: &tch::Tensor, root: c_int) -> Result<(), String> {
        // SAFETY: as in all_reduce_sum.
        take_error(unsafe { dist_pg_broadcast(self.0, tensor.as_ptr(), root) }).map_or(Ok(()), Err)
    }

    /// Blocks until every rank has reached the barrier.
    pub(crate) fn barrier(&self) -> Result<(), String> {
        // SAFETY: self.0 is a live process group.
        take_error(unsafe { dist_pg_barrier(self.0) }).map_or(Ok(()), Err)
    }
}

// SAFETY: a c10d store and backend are not tied to the thread that created them (PyTorch issues
// collectives from whichever thread runs the step); what they need is one order of collectives,
// which `ProcessGroup` (not `Sync`) keeps by being used from one thread at a time.
unsafe impl Send for Handle {}

impl Drop for Handle {
    fn drop(&mut self) {
        // SAFETY: created by dist_pg_create and freed only here.
        unsafe { dist_pg_free(self.0) };
    }
}
