//! Embeds the migration files of every app of ferry.toml; cargo rebuilds the program when a
//! file or folder changes.

fn main() {
    ferry_build::Embed::config("ferry.toml").emit();
}
