//! The Parquet reader catches the parquet crate's panics; their messages must not reach
//! the panic hook (standard error), while every other panic still does. One test in its
//! own process, since it owns the process's panic hook.

use std::sync::{Arc, Barrier, Mutex};

use custval_client::files::shield::{message, quietly};

#[test]
fn only_shielded_panics_are_kept_from_the_hook() {
    // Stands in for the default hook (which prints to standard error): what it sees.
    let reported = Arc::new(Mutex::new(Vec::<String>::new()));
    let seen = reported.clone();
    std::panic::set_hook(Box::new(move |info| {
        let what = message(info.payload()).unwrap_or_default();
        seen.lock().unwrap_or_else(|e| e.into_inner()).push(what);
    }));
    let reports = || reported.lock().unwrap().clone();

    let caught = quietly(|| -> u32 { panic!("shielded one") }).unwrap_err();
    assert_eq!(message(caught.as_ref()).as_deref(), Some("shielded one"));
    assert_eq!(quietly(|| 7).unwrap(), 7);
    assert!(
        reports().is_empty(),
        "a shielded panic reached the hook: {:?}",
        reports()
    );

    // Nested calls leave the shield only at the outermost end.
    let nested = quietly(|| {
        assert!(quietly(|| panic!("inner")).is_err());
        panic!("outer, after the inner call ended")
    });
    assert!(nested.is_err());
    assert!(reports().is_empty(), "{:?}", reports());

    // While one thread is shielded, a panic on another is reported as before.
    let inside = Arc::new(Barrier::new(2));
    let done = Arc::new(Barrier::new(2));
    let shielded = {
        let (inside, done) = (inside.clone(), done.clone());
        std::thread::spawn(move || {
            quietly(|| {
                inside.wait();
                done.wait();
                panic!("shielded two")
            })
            .is_err()
        })
    };
    inside.wait();
    let elsewhere = std::thread::spawn(|| panic!("a real panic elsewhere")).join();
    done.wait();
    assert!(elsewhere.is_err() && shielded.join().unwrap());
    assert_eq!(reports(), ["a real panic elsewhere"]);

    // After the call, the same thread's panics are reported again.
    let later = std::panic::catch_unwind(|| panic!("after the shield"));
    assert!(later.is_err());
    assert_eq!(reports(), ["a real panic elsewhere", "after the shield"]);
}
