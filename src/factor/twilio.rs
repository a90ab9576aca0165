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
impl TwilioVerify {
    /// stub
    pub fn from_env() -> crate::Result<Option<Self>> {
        Ok(None)
    }
}
#[async_trait::async_trait]
impl super::SmsVerifier for TwilioVerify {
    async fn send(&self, _: &str, _: &super::SmsContext<'_>) -> crate::Result<String> {
        Err(crate::Error::Config("stub".into()))
    }
    async fn check(
        &self,
        _: &str,
        _: &str,
        _: &str,
        _: &super::SmsContext<'_>,
    ) -> crate::Result<bool> {
        Err(crate::Error::Config("stub".into()))
    }
    async fn cancel(&self, _: &str, _: &str, _: &super::SmsContext<'_>) -> crate::Result<()> {
        Err(crate::Error::Config("stub".into()))
    }
}
