//! Numerical building blocks shared by the models: special functions, quadrature,
//! forward-mode dual numbers, 4-wide SIMD lanes and small dense linear algebra.

pub(crate) mod dual;
pub(crate) mod lanes;
pub(crate) mod linalg;
pub(crate) mod quadrature;
pub mod special;
