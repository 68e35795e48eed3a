//! `custval info`: the models and units this build knows, as JSON (no server). A server
//! may know more families: `custval models families` asks it.

/// Prints the model crate's registered families, spend models and units.
pub fn exec() {
    let families = custval_model::models::families();
    let info = serde_json::json!({
        "models": families.iter().map(|f| f.name()).collect::<Vec<_>>(),
        "spend_models": ["gamma-gamma"],
        "time_units": custval_model::TimeUnit::ALL.iter().map(|u| u.as_str()).collect::<Vec<_>>(),
    });
    crate::outln!("{info:#}");
}
