//! glibc malloc settings for the data path.
//!
//! Relaying a stream allocates and frees buffers of 16 KiB to 512 KiB all the
//! time (reads, frames, TLS records). By default glibc hands freed memory back
//! to the kernel once 128–512 KiB lie free at the top of a heap (`brk`, or
//! `madvise` in a thread's arena), and the next buffer faults it back in page
//! by page: about 145,000 page faults per GiB relayed in a session worker
//! (`perf stat -e page-faults`). Serving blocks under 4 MiB from the heap and
//! keeping up to 64 MiB free per arena removes them; memory that is in use is
//! unchanged.

const MMAP_THRESHOLD: i32 = 4 << 20;
const TRIM_THRESHOLD: i32 = 64 << 20;

pub fn tune() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only changes allocator parameters; it is called once,
    // before any thread is started.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, MMAP_THRESHOLD);
        libc::mallopt(libc::M_TRIM_THRESHOLD, TRIM_THRESHOLD);
    }
}
