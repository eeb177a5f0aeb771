struct Service {
    id: u32,
}

impl Service {
    const GLOBAL: Self = Self { id: 7 };
}

#[atexit::on_exit]
impl Service {
    fn helper() -> u32 {
        Self::GLOBAL.id
    }

    #[on_exit(priority = 2)]
    fn shutdown() {
        let service: Self = Self::GLOBAL;
        assert_eq!(service.id, Self::helper());
    }

    #[atexit::on_exit(name = "service flush")]
    fn flush() -> Result<(), String> {
        Ok(())
    }
}

fn main() {}
