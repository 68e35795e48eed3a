//! MBG/NBD (Batislam, Denizel & Filiztekin 2007, with Wagner & Hoppe's 2008 erratum).
//! Shares its likelihood and predictions with [`crate::bgnbd`]; only the dropout check
//! after the first purchase differs.

use crate::bgnbd::{self, Variant};
use crate::error::Result;
use crate::fit::{FitOptions, Fitted, GroupedRfm};
use crate::params::BetaGeoParams;

/// Fits MBG/NBD by maximum likelihood.
pub fn fit(data: &GroupedRfm, opts: &FitOptions) -> Result<Fitted<BetaGeoParams>> {
    bgnbd::fit_variant(data, Variant::Modified, opts)
}

/// Total log-likelihood of `data` under MBG/NBD with `params`.
pub fn log_likelihood(data: &GroupedRfm, params: &BetaGeoParams) -> f64 {
    bgnbd::log_likelihood_variant(data, Variant::Modified, params)
}
