//! stub
/// stub
pub trait SmsSender {}
/// stub
#[derive(Debug)]
pub struct ConsoleSms;
/// stub
#[derive(Debug)]
pub struct LocalCodes;
/// stub
#[derive(Debug)]
pub struct SentSms;
