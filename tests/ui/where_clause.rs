#[atexit::on_exit]
fn flush()
where
    u8: Copy,
{
}

fn main() {}
