//! HTTP(S) announces (BEP 3; compact peer lists, BEP 23): one process-wide ureq agent, each
//! request under `spawn_blocking` with a global timeout and a body cap of [`MAX_HTTP_BODY`].

use super::{AnnounceError, MAX_HTTP_BODY, USER_AGENT};
use crate::proto::tracker::{
    AnnounceRequest, AnnounceResponse, TrackerError, http_announce_url, parse_http_response,
};
use std::sync::LazyLock;
use std::time::Duration;

/// One agent for the process so keep-alive connections to a tracker can be reused.
static HTTP_AGENT: LazyLock<ureq::Agent> = LazyLock::new(|| {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .user_agent(USER_AGENT)
        .build()
        .into()
});

pub(super) async fn announce_http(
    base: &str,
    req: &AnnounceRequest,
    timeout: Duration,
) -> Result<AnnounceResponse, AnnounceError> {
    let url = http_announce_url(base, req);
    let task = tokio::task::spawn_blocking(move || http_get(&url, timeout));
    // ureq enforces `timeout` itself; the outer bound (with slack) only guards against a stuck
    // blocking thread, which we then abandon: it ends at ureq's own deadline.
    match tokio::time::timeout(timeout + Duration::from_secs(1), task).await {
        Ok(Ok(result)) => result,
        Ok(Err(join)) => Err(AnnounceError::Http(format!("announce task failed: {join}"))),
        Err(_) => Err(AnnounceError::Timeout(timeout)),
    }
}

fn http_get(url: &str, timeout: Duration) -> Result<AnnounceResponse, AnnounceError> {
    let map_err = |e: ureq::Error| match e {
        ureq::Error::Timeout(_) => AnnounceError::Timeout(timeout),
        other => AnnounceError::Http(other.to_string()),
    };
    let mut resp = HTTP_AGENT
        .get(url)
        .config()
        .timeout_global(Some(timeout))
        .build()
        .call()
        .map_err(map_err)?;
    let status = resp.status().as_u16();
    let body = resp
        .body_mut()
        .with_config()
        .limit(MAX_HTTP_BODY)
        .read_to_vec()
        .map_err(map_err)?;
    match parse_http_response(&body) {
        Ok(r) if status == 200 => Ok(r),
        Err(TrackerError::Failure(reason)) => Err(TrackerError::Failure(reason).into()),
        Err(e) if status == 200 => Err(e.into()),
        _ => Err(AnnounceError::HttpStatus { status }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::tracker::announce;
    use crate::engine::tracker::test_support::*;
    use std::net::TcpListener;
    use std::time::Instant;

    #[tokio::test]
    async fn http_announce_sends_query_and_parses() {
        let (base, mut seen) = fake_http(|_| (200, ok_body(900)));
        let resp = announce(&base, &request(), T).await.unwrap();
        assert_eq!(resp.interval, 900);
        assert_eq!(resp.peers, vec!["127.0.0.1:6881".parse().unwrap()]);
        assert_eq!((resp.complete, resp.incomplete), (Some(3), Some(2)));
        assert_eq!(resp.tracker_id.as_deref(), Some(&b"T1"[..]));

        let path = seen.recv().await.unwrap();
        assert!(path.starts_with("/announce?"), "{path}");
        assert_eq!(
            query_param(&path, "info_hash"),
            Some("%01%02%20abc~XYZ%FF%00%10%7F.-_012")
        );
        assert_eq!(query_param(&path, "peer_id"), Some("-FP0100-123456789012"));
        for (k, v) in [
            ("port", "6881"),
            ("uploaded", "10"),
            ("downloaded", "20"),
            ("left", "30"),
            ("compact", "1"),
            ("event", "started"),
            ("numwant", "50"),
            ("key", "0000002a"),
        ] {
            assert_eq!(query_param(&path, k), Some(v), "{k} in {path}");
        }
        assert_eq!(query_param(&path, "trackerid"), None);
    }

    #[tokio::test]
    async fn http_failure_reason_surfaces_even_with_error_status() {
        for status in [200, 400] {
            let (base, _seen) =
                fake_http(move |_| (status, b"d14:failure reason7:go awaye".to_vec()));
            match announce(&base, &request(), T).await {
                Err(AnnounceError::Tracker(TrackerError::Failure(m))) => assert_eq!(m, "go away"),
                other => panic!("status {status}: {other:?}"),
            }
        }
        let (base, _seen) = fake_http(|_| (502, b"<html>bad gateway</html>".to_vec()));
        assert!(matches!(
            announce(&base, &request(), T).await,
            Err(AnnounceError::HttpStatus { status: 502 })
        ));
        let (base, _seen) = fake_http(|_| (200, b"<html>".to_vec()));
        assert!(matches!(
            announce(&base, &request(), T).await,
            Err(AnnounceError::Tracker(TrackerError::Invalid(_)))
        ));
    }

    #[tokio::test]
    async fn http_body_is_capped() {
        let (base, _seen) = fake_http(|_| (200, vec![b'x'; MAX_HTTP_BODY as usize + 10]));
        let err = announce(&base, &request(), T).await.unwrap_err();
        assert!(matches!(err, AnnounceError::Http(_)), "{err:?}");
    }

    #[tokio::test]
    async fn http_silent_tracker_times_out() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}/announce", listener.local_addr().unwrap());
        // Accept and hold the connection without answering.
        std::thread::spawn(move || {
            let held: Vec<_> = listener.incoming().take(4).collect();
            std::thread::sleep(Duration::from_secs(10));
            drop(held);
        });
        let start = Instant::now();
        let err = announce(&url, &request(), Duration::from_millis(300))
            .await
            .unwrap_err();
        assert!(matches!(err, AnnounceError::Timeout(_)), "{err:?}");
        assert!(start.elapsed() < Duration::from_secs(3));
    }
}
