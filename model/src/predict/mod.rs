//! What a fitted model says about customers: batch scoring ([`score`]), CLV over an
//! explicit horizon and discount basis ([`clv`]), calendar-time tracking ([`tracking`]),
//! holdout evaluation ([`evaluate`]), what a holdout shows about the fit
//! ([`holdout_diagnosis`], and [`seasonality`] from its calendar periods) and backtests
//! over several holdouts ([`backtest`]), and whether a fitted model scores its own
//! training customers ([`self_check`]).

pub mod backtest;
pub mod clv;
pub mod evaluate;
pub mod holdout_diagnosis;
pub mod score;
pub mod seasonality;
pub mod self_check;
pub mod tracking;
