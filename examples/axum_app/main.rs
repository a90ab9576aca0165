//! The tutorial's site (placeholder).
#[path = "../common/mod.rs"]
mod common;

#[tokio::main]
async fn main() -> Result<(), common::SetupError> {
    common::load_dotenv();
    let opts = common::Options {
        db: common::default_db(),
        ..Default::default()
    };
    let backend = common::backend(&opts).await?;
    println!("{}", backend.summary);
    Ok(())
}
