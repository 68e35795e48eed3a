//! Cooperative cancellation: a cheap, cloneable token that long computations check between
//! optimizer iterations, k-means passes and chunks, stopping with
//! [`ModelError::Cancelled`] once it has fired. Whoever started the work fires it (the
//! server: a client that went away, a passed deadline, a shutdown); nothing here knows why.
//!
//! A check is one atomic load per level of nesting, made once per iteration, pass or
//! chunk, never per customer, so it costs nothing measurable. The default token never
//! fires and allocates nothing: library callers that do not cancel pay nothing.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use crate::error::{ModelError, Result};

/// A cancellation token; clones share it. See the [module documentation](self).
#[derive(Clone, Default)]
pub struct Cancel(Option<Arc<Node>>);

struct Node {
    fired: AtomicBool,
    /// A child fires with its parent (a request's token with the server's shutdown).
    parent: Option<Cancel>,
}

impl Cancel {
    /// A token that never fires (the same as `Cancel::default()`).
    pub fn never() -> Cancel {
        Cancel(None)
    }

    /// A token that fires when [`Cancel::cancel`] is called on it or a clone.
    pub fn new() -> Cancel {
        Cancel(Some(Arc::new(Node {
            fired: AtomicBool::new(false),
            parent: None,
        })))
    }

    /// A token that fires when this one does, or when cancelled itself (without firing
    /// this one).
    pub fn child(&self) -> Cancel {
        Cancel(Some(Arc::new(Node {
            fired: AtomicBool::new(false),
            parent: self.0.is_some().then(|| self.clone()),
        })))
    }

    /// Fires the token (and every child of it). A token that never fires ignores this.
    pub fn cancel(&self) {
        if let Some(node) = &self.0 {
            node.fired.store(true, Ordering::Release);
        }
    }

    /// Whether the token, or an ancestor, has fired.
    pub fn is_cancelled(&self) -> bool {
        let mut at = self;
        while let Some(node) = &at.0 {
            if node.fired.load(Ordering::Acquire) {
                return true;
            }
            match &node.parent {
                Some(parent) => at = parent,
                None => break,
            }
        }
        false
    }

    /// `Err(ModelError::Cancelled)` once the token has fired: `cancel.check()?` between
    /// iterations.
    pub fn check(&self) -> Result<()> {
        if self.is_cancelled() {
            Err(ModelError::Cancelled)
        } else {
            Ok(())
        }
    }
}

impl fmt::Debug for Cancel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.0 {
            None => f.write_str("Cancel(never)"),
            Some(_) => write!(f, "Cancel(fired: {})", self.is_cancelled()),
        }
    }
}

/// A token is how a computation is stopped, not part of what it computes: options that
/// carry one compare equal whatever their tokens.
impl PartialEq for Cancel {
    fn eq(&self, _: &Cancel) -> bool {
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn children_fire_with_their_parent_but_not_the_other_way() {
        let never = Cancel::never();
        never.cancel();
        assert!(!never.is_cancelled());
        assert!(!never.child().is_cancelled());

        let parent = Cancel::new();
        let (a, b) = (parent.child(), parent.child());
        let grandchild = a.child();
        a.cancel();
        assert!(a.is_cancelled() && grandchild.is_cancelled());
        assert!(!parent.is_cancelled() && !b.is_cancelled());
        parent.cancel();
        assert!(b.is_cancelled());
        assert_eq!(b.clone().check(), Err(ModelError::Cancelled));
        assert_eq!(Cancel::new().check(), Ok(()));
    }
}
