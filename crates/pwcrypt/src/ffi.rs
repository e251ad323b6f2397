//! The libxcrypt shim: `crypt_rn(3)` and `crypt_gensalt_rn(3)`, nothing else.
//!
//! CRATES.md decision 4: hashes that Courier hands to the system `crypt(3)` (`$y$`,
//! `$gy$`, `$7$`, `$6$`, `$5$`, `$2b$`, `$1$`, DES) are computed by the same library
//! Debian's Courier links, so the two can never disagree. This is one of the two
//! places in the workspace allowed to hold `unsafe` code (STYLE.md §1.4).
#![allow(unsafe_code)] // the FFI calls below; each block states its precondition

use std::ffi::{CStr, CString, c_char, c_int, c_ulong, c_void};

/// `sizeof(struct crypt_data)` in libxcrypt's `<crypt.h>` (made to add up to exactly
/// 32768 bytes there); `crypt_rn` requires a work area at least this large.
const CRYPT_DATA_SIZE: usize = 32768;
/// `CRYPT_OUTPUT_SIZE` in `<crypt.h>`: the first field of `struct crypt_data` and the
/// longest string `crypt_rn` returns, counting the NUL.
const CRYPT_OUTPUT_SIZE: usize = 384;
/// `CRYPT_MAX_PASSPHRASE_SIZE`: libxcrypt refuses longer passphrases (counting the NUL).
pub(crate) const CRYPT_MAX_PASSPHRASE_SIZE: usize = 512;
/// `CRYPT_GENSALT_OUTPUT_SIZE`: the buffer size `crypt_gensalt_rn` wants.
const CRYPT_GENSALT_OUTPUT_SIZE: usize = 192;

#[link(name = "crypt")]
unsafe extern "C" {
    fn crypt_rn(
        phrase: *const c_char,
        setting: *const c_char,
        data: *mut c_void,
        size: c_int,
    ) -> *mut c_char;
    fn crypt_gensalt_rn(
        prefix: *const c_char,
        count: c_ulong,
        rbytes: *const c_char,
        nrbytes: c_int,
        output: *mut c_char,
        output_size: c_int,
    ) -> *mut c_char;
}

/// A zeroed `struct crypt_data`, boxed (32 KiB is too much for a thread's stack budget
/// in some callers) and wiped on drop because it held the passphrase's key schedule.
struct WorkArea(Box<[u8]>);

impl WorkArea {
    fn new() -> Self {
        // libxcrypt: "set `initialized` to 0 before the first call"; all-zero does that.
        WorkArea(vec![0u8; CRYPT_DATA_SIZE].into_boxed_slice())
    }
}

impl Drop for WorkArea {
    fn drop(&mut self) {
        for b in self.0.iter_mut() {
            // Volatile so the wipe of secret-derived state is not optimised away.
            let p: *mut u8 = b;
            // SAFETY: `p` comes from a live `&mut u8` into our own allocation.
            unsafe { std::ptr::write_volatile(p, 0) };
        }
    }
}

/// Runs libxcrypt's `crypt_rn(phrase, setting)`.
///
/// Returns `None` when libxcrypt reports failure (unknown or malformed setting, a
/// passphrase over its limit) or returns one of its failure tokens (`*0`, `*1`), and
/// when either argument contains a NUL byte, which a C string cannot carry.
pub(crate) fn crypt_rn_safe(phrase: &[u8], setting: &[u8]) -> Option<String> {
    if phrase.len() >= CRYPT_MAX_PASSPHRASE_SIZE || setting.len() >= CRYPT_OUTPUT_SIZE {
        return None;
    }
    let phrase = CString::new(phrase).ok()?;
    let setting = CString::new(setting).ok()?;
    let mut data = WorkArea::new();
    let size = c_int::try_from(data.0.len()).ok()?;
    // SAFETY: `phrase` and `setting` are NUL-terminated and outlive the call; `data`
    // points to `size` writable bytes, at least sizeof(struct crypt_data) as crypt_rn(3)
    // requires, zero-initialised as its man page asks. crypt_rn does not keep any of the
    // pointers after returning.
    let out = unsafe {
        crypt_rn(
            phrase.as_ptr(),
            setting.as_ptr(),
            data.0.as_mut_ptr().cast::<c_void>(),
            size,
        )
    };
    if out.is_null() {
        return None;
    }
    // SAFETY: on success crypt_rn returns a pointer to the NUL-terminated `output` field
    // at the start of `data` (at most CRYPT_OUTPUT_SIZE bytes), which is still alive.
    let text = unsafe { CStr::from_ptr(out) };
    let text = text.to_str().ok()?.to_owned();
    if text.starts_with('*') {
        return None;
    }
    Some(text)
}

/// Runs libxcrypt's `crypt_gensalt_rn(prefix, count, rbytes)`: a setting string for
/// `crypt_rn` from our own random bytes. `count` 0 means the method's default cost.
pub(crate) fn gensalt(prefix: &str, count: u64, rbytes: &[u8]) -> Option<String> {
    let prefix = CString::new(prefix).ok()?;
    let nrbytes = c_int::try_from(rbytes.len()).ok()?;
    let count = c_ulong::try_from(count).ok()?;
    let mut out = [0u8; CRYPT_GENSALT_OUTPUT_SIZE];
    let out_size = c_int::try_from(out.len()).ok()?;
    // SAFETY: `prefix` is NUL-terminated; `rbytes` points to `nrbytes` readable bytes;
    // `out` is `out_size` writable bytes (CRYPT_GENSALT_OUTPUT_SIZE, the size the man
    // page asks for). Nothing is retained after the call.
    let r = unsafe {
        crypt_gensalt_rn(
            prefix.as_ptr(),
            count,
            rbytes.as_ptr().cast::<c_char>(),
            nrbytes,
            out.as_mut_ptr().cast::<c_char>(),
            out_size,
        )
    };
    if r.is_null() {
        return None;
    }
    let text = CStr::from_bytes_until_nul(&out).ok()?.to_str().ok()?;
    if text.is_empty() || text.starts_with('*') {
        return None;
    }
    Some(text.to_owned())
}
