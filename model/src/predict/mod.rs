//! What a fitted model says about customers: batch scoring ([`score`]), CLV over an
//! explicit horizon and discount basis ([`clv`]), calendar-time tracking ([`tracking`]),
//! and holdout evaluation ([`evaluate`]).

pub mod clv;
pub mod evaluate;
pub mod score;
pub mod tracking;
