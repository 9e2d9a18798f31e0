//! Loading the embedded filter object with libbpf. libbpf is used only here, at load time: the
//! program and map file descriptors are duplicated into `OwnedFd`s and the `bpf_object` is closed,
//! so what the rest of ulvs holds is plain, `Send + Sync` descriptors and no libbpf pointer.

use std::ffi::{c_void, CStr};
use std::io;
use std::os::fd::{BorrowedFd, OwnedFd};

use super::XdpError;

/// The filter object build.rs compiled from bpf/ulvs_filter.bpf.c.
static OBJECT: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/ulvs_filter.bpf.o"));

/// The program's name as the kernel reports it (`bpf_prog_info.name`): how a stale ulvs program
/// is told apart from somebody else's.
pub(crate) const PROGRAM_NAME: &CStr = c"ulvs_filter";

/// The loaded filter: its program and its maps.
#[derive(Debug)]
pub(crate) struct LoadedFilter {
    pub program: OwnedFd,
    pub xsks: OwnedFd,
    pub vips: OwnedFd,
    pub vips6: OwnedFd,
    pub stats: OwnedFd,
    pub limits: OwnedFd,
    pub rules4: OwnedFd,
    pub rules6: OwnedFd,
    pub rule_hits: OwnedFd,
    pub filter: OwnedFd,
}

/// Closes the `bpf_object` however `load` leaves.
pub(super) struct Object(*mut libbpf_sys::bpf_object);

impl Drop for Object {
    fn drop(&mut self) {
        // SAFETY: the pointer came from bpf_object__open_mem, is non-null, and is closed once.
        unsafe { libbpf_sys::bpf_object__close(self.0) };
    }
}

/// Opens and loads (verifies) the embedded object into the kernel.
pub(crate) fn load() -> Result<LoadedFilter, XdpError> {
    let object = open_and_load(OBJECT, c"ulvs_filter")?;
    Ok(LoadedFilter {
        program: program_fd(&object, PROGRAM_NAME)?,
        xsks: map_fd(&object, c"xsks")?,
        vips: map_fd(&object, c"vips")?,
        vips6: map_fd(&object, c"vips6")?,
        stats: map_fd(&object, c"stats")?,
        limits: map_fd(&object, c"limits")?,
        rules4: map_fd(&object, c"rules4")?,
        rules6: map_fd(&object, c"rules6")?,
        rule_hits: map_fd(&object, c"rule_hits")?,
        filter: map_fd(&object, c"filter")?,
    })
}

/// Opens the ELF `image` and loads every program and map in it into the kernel.
pub(super) fn open_and_load(image: &'static [u8], name: &CStr) -> Result<Object, XdpError> {
    let opts = libbpf_sys::bpf_object_open_opts {
        sz: std::mem::size_of::<libbpf_sys::bpf_object_open_opts>() as _,
        object_name: name.as_ptr(),
        // SAFETY: bpf_object_open_opts is a plain C struct for which all-zero is "no option set".
        ..unsafe { std::mem::zeroed() }
    };
    // SAFETY: the image is static and outlives the call (libbpf copies what it keeps); opts is a
    // valid, sized options struct.
    let raw = unsafe { libbpf_sys::bpf_object__open_mem(image.as_ptr().cast::<c_void>(), image.len() as _, &opts) };
    if raw.is_null() {
        return Err(load_error("bpf_object__open_mem", io::Error::last_os_error()));
    }
    let object = Object(raw);

    // SAFETY: object.0 is an open bpf_object.
    let ret = unsafe { libbpf_sys::bpf_object__load(object.0) };
    if ret < 0 {
        return Err(load_error("bpf_object__load", io::Error::from_raw_os_error(-ret)));
    }
    Ok(object)
}

/// Our own descriptor for the loaded program `name`.
pub(super) fn program_fd(object: &Object, name: &CStr) -> Result<OwnedFd, XdpError> {
    // SAFETY: object.0 is a loaded bpf_object and name is NUL-terminated.
    let program = unsafe { libbpf_sys::bpf_object__find_program_by_name(object.0, name.as_ptr()) };
    if program.is_null() {
        return Err(load_error("finding the program", io::ErrorKind::NotFound.into()));
    }
    // SAFETY: program belongs to the loaded object, which is still open.
    dup(unsafe { libbpf_sys::bpf_program__fd(program) }, "duplicating the program fd")
}

pub(super) fn map_fd(object: &Object, name: &CStr) -> Result<OwnedFd, XdpError> {
    // SAFETY: object.0 is a loaded bpf_object and name is NUL-terminated.
    let fd = unsafe { libbpf_sys::bpf_object__find_map_fd_by_name(object.0, name.as_ptr()) };
    dup(fd, "finding a map")
}

/// Takes our own copy of a descriptor libbpf owns (and closes with the object).
fn dup(fd: i32, step: &'static str) -> Result<OwnedFd, XdpError> {
    if fd < 0 {
        return Err(load_error(step, io::Error::from_raw_os_error(-fd)));
    }
    // SAFETY: fd is open for as long as the bpf_object is, which outlives this borrow.
    let borrowed = unsafe { BorrowedFd::borrow_raw(fd) };
    borrowed.try_clone_to_owned().map_err(|e| load_error(step, e))
}

fn load_error(step: &'static str, source: io::Error) -> XdpError {
    XdpError::Load { step, source }
}

/// The embedded ELF image, for tests that check it without loading it.
#[cfg(test)]
pub(crate) fn image() -> &'static [u8] {
    OBJECT
}

/// Opens (parses, without loading) the object and lists its programs and maps: needs no
/// privileges, so unit tests can check the build produced what `load` expects.
#[cfg(test)]
pub(crate) fn inspect() -> io::Result<(Vec<String>, Vec<String>)> {
    // SAFETY: as in `load`; a null opts pointer means defaults.
    let raw = unsafe {
        libbpf_sys::bpf_object__open_mem(OBJECT.as_ptr().cast::<c_void>(), OBJECT.len() as _, std::ptr::null())
    };
    if raw.is_null() {
        return Err(io::Error::last_os_error());
    }
    let object = Object(raw);
    let mut programs = Vec::new();
    let mut maps = Vec::new();
    // SAFETY: iteration over an open object; names are NUL-terminated strings the object owns.
    unsafe {
        let mut p = libbpf_sys::bpf_object__next_program(object.0, std::ptr::null_mut());
        while !p.is_null() {
            programs.push(CStr::from_ptr(libbpf_sys::bpf_program__name(p)).to_string_lossy().into_owned());
            p = libbpf_sys::bpf_object__next_program(object.0, p);
        }
        let mut m = libbpf_sys::bpf_object__next_map(object.0, std::ptr::null());
        while !m.is_null() {
            maps.push(CStr::from_ptr(libbpf_sys::bpf_map__name(m)).to_string_lossy().into_owned());
            m = libbpf_sys::bpf_object__next_map(object.0, m);
        }
    }
    Ok((programs, maps))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_object_is_a_bpf_elf() {
        let image = image();
        assert_eq!(&image[..4], b"\x7fELF");
        // e_machine (little-endian u16 at 18) is EM_BPF = 247.
        assert_eq!(u16::from_le_bytes([image[18], image[19]]), 247);
    }

    #[test]
    fn embedded_object_has_the_program_and_maps_load_expects() {
        let (programs, mut maps) = inspect().unwrap();
        assert_eq!(programs, vec![PROGRAM_NAME.to_str().unwrap().to_owned()]);
        // The compiler places a struct initialiser's constant in .rodata, which libbpf loads as an
        // internal map of its own ("<hash>.rodata"); the program has no globals (.bss/.data).
        maps.retain(|name| !name.ends_with(".rodata"));
        maps.sort();
        let wanted = ["buckets", "filter", "limits", "rule_hits", "rules4", "rules6", "stats", "vips", "vips6", "xsks"];
        assert_eq!(maps, wanted);
    }
}
