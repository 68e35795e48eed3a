//! `custval health`: asks the server whether it is SERVING.

use crate::connect::ConnectOptions;
use crate::error::ClientError;

/// `custval health`: SERVING or not, exit code to match.
pub async fn exec(connect: &ConnectOptions) -> Result<(), ClientError> {
    let conn = connect.connect().await?;
    let status = conn.health().await?.as_str_name();
    crate::outln!("{} {status}", conn.url());
    if status == "SERVING" {
        Ok(())
    } else {
        Err(ClientError::Rpc {
            what: "health check".into(),
            code: tonic::Code::Unavailable,
            message: status.into(),
        })
    }
}
