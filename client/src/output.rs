//! Standard output that ends quietly when the reader goes away: `custval fit --json | head`
//! closes the pipe after a few bytes, and `println!` would then panic. Every command prints
//! through [`outln!`](crate::outln) and [`out!`](crate::out); a closed pipe ends the process
//! as SIGPIPE would end a C tool (status 141, nothing on stderr), any other write error is
//! reported once.

use std::io::{self, Write};

/// Exit status of a process ended by SIGPIPE (128 + 13), as shells report it.
pub const BROKEN_PIPE_STATUS: i32 = 141;

/// Writes `args` to standard output, ending the process on a closed pipe.
pub fn write(args: std::fmt::Arguments<'_>) {
    let mut out = io::stdout().lock();
    if let Err(e) = out.write_fmt(args).and_then(|()| out.flush()) {
        exit_on(&e);
    }
}

/// Ends the process if `e` is a closed pipe; otherwise says what failed and goes on (the
/// command's own result decides the exit status).
pub fn exit_on(e: &io::Error) {
    if e.kind() == io::ErrorKind::BrokenPipe {
        std::process::exit(BROKEN_PIPE_STATUS);
    }
    eprintln!("custval: cannot write to standard output: {e}");
}

/// `println!` to standard output that survives a closed pipe.
#[macro_export]
macro_rules! outln {
    () => {
        $crate::output::write(format_args!("\n"))
    };
    ($($arg:tt)*) => {
        $crate::output::write(format_args!("{}\n", format_args!($($arg)*)))
    };
}

/// `print!` to standard output that survives a closed pipe.
#[macro_export]
macro_rules! out {
    ($($arg:tt)*) => {
        $crate::output::write(format_args!($($arg)*))
    };
}
