//! Reading a remote answer whole, or not at all: a body cut off mid-way is an
//! error (never an empty or shorter answer), and one larger than the caller
//! expects is refused before it fills the memory.

/// The body of `resp`, at most `max` bytes; why not otherwise.
pub async fn read_capped(mut resp: reqwest::Response, max: usize) -> Result<Vec<u8>, String> {
    if let Some(len) = resp.content_length()
        && len > max as u64
    {
        return Err(format!(
            "the answer is {len} bytes, more than the {max} expected"
        ));
    }
    let mut bytes = Vec::new();
    loop {
        match resp.chunk().await {
            Ok(Some(chunk)) => {
                if bytes.len() + chunk.len() > max {
                    return Err(format!(
                        "the answer is larger than the {max} bytes expected"
                    ));
                }
                bytes.extend_from_slice(&chunk);
            }
            Ok(None) => return Ok(bytes),
            Err(e) => return Err(format!("the answer was cut off: {}", e.without_url())),
        }
    }
}

/// Why a redirect is not followed (clients follow none: an answer from
/// another address is not the service's answer, and a replayed request may
/// carry secrets or user data there).
pub fn redirect_refused(resp: &reqwest::Response) -> Option<String> {
    resp.status().is_redirection().then(|| {
        let to = resp
            .headers()
            .get(reqwest::header::LOCATION)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("nowhere");
        let to: String = to.chars().take(100).collect();
        format!(
            "HTTP {}: a redirect to {to:?}, which is not followed",
            resp.status().as_u16()
        )
    })
}
