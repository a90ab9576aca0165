//! stub
/// stub
#[derive(Debug)]
pub struct RecoveryCodes;
