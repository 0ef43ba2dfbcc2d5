//! Self-test of the in-process API server (tests/common/apiserver) with the real kube client.

mod common;

use common::apiserver::ApiServer;

#[tokio::test]
async fn starts() {
    let s = ApiServer::start().await;
    let _ = s.client().await;
}
