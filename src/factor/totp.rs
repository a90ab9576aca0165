//! stub
/// stub
#[derive(Debug)]
pub struct TotpEnrollment;
