//! `custval health`: asks the server whether it is SERVING.

use serde_json::json;

use crate::connect::ConnectOptions;
use crate::error::ClientError;

/// `custval health`'s options.
#[derive(Debug, Clone, clap::Args)]
pub struct HealthArgs {
    /// Print the answer as JSON: `{"server", "status", "serving"}` (the exit code is the
    /// same: 0 only when SERVING).
    #[arg(long)]
    pub json: bool,
}

/// `custval health`: SERVING or not, exit code to match.
pub async fn exec(connect: &ConnectOptions, a: &HealthArgs) -> Result<(), ClientError> {
    let conn = connect.connect().await?;
    let status = conn.health().await?.as_str_name();
    let serving = status == "SERVING";
    if a.json {
        crate::outln!(
            "{:#}",
            json!({"server": conn.url(), "status": status, "serving": serving})
        );
    } else {
        crate::outln!("{} {status}", conn.url());
    }
    if serving {
        Ok(())
    } else {
        Err(ClientError::Rpc {
            what: "health check".into(),
            code: tonic::Code::Unavailable,
            message: status.into(),
        })
    }
}
