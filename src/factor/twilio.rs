//! Twilio Verify provider (to be written).
/// stub
#[derive(Debug)]
pub struct TwilioVerify;
/// stub
#[derive(Debug)]
pub struct TwilioVerifyBuilder;
/// stub
#[derive(Debug)]
pub enum Channel {}
