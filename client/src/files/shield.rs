//! Catching a library's panic without its message: the parquet crate asserts on some
//! damaged files instead of returning an error, and the reader turns that panic into a
//! clean error naming the file. The default panic hook would still print "thread ...
//! panicked at ..." to standard error first, which reads like a crash of custval.
//!
//! The process's panic hook is wrapped once: a panic on a thread inside [`quietly`] is not
//! reported (the caller reports it as an error), and every other panic (another thread,
//! or this one outside the call) goes to the hook that was there before, as it would
//! have. The flag is per thread, so concurrent readers and real panics elsewhere do not
//! see each other's state.

use std::any::Any;
use std::cell::Cell;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Once;

thread_local! {
    /// Calls of [`quietly`] under way on this thread (they may nest).
    static SHIELDED: Cell<u32> = const { Cell::new(0) };
}

static WRAP_HOOK: Once = Once::new();

/// Runs `call`, returning its panic's payload instead of unwinding further, without the
/// panic hook's report for it.
pub fn quietly<T>(call: impl FnOnce() -> T) -> Result<T, Box<dyn Any + Send>> {
    WRAP_HOOK.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if SHIELDED.with(Cell::get) == 0 {
                previous(info);
            }
        }));
    });
    /// Leaves the shielded state however the call ends.
    struct Leave;
    impl Drop for Leave {
        fn drop(&mut self) {
            SHIELDED.with(|s| s.set(s.get().saturating_sub(1)));
        }
    }
    SHIELDED.with(|s| s.set(s.get() + 1));
    let _leave = Leave;
    catch_unwind(AssertUnwindSafe(call))
}

/// A panic's message, if it carries one.
pub fn message(payload: &(dyn Any + Send)) -> Option<String> {
    payload
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| payload.downcast_ref::<String>().cloned())
}
