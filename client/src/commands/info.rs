//! `custval info`: the models and units this build knows, as JSON (no server).

/// Prints the model crate's supported models and units.
pub fn exec() {
    let info = serde_json::json!({
        "models": ["bgnbd", "mbgnbd", "pareto-nbd"],
        "spend_models": ["gamma-gamma"],
        "time_units": custval_model::TimeUnit::ALL.iter().map(|u| u.as_str()).collect::<Vec<_>>(),
    });
    println!("{info:#}");
}
