//! A plugin: a shared library with `#[on_exit]` and dynamic handlers of its own,
//! which a host loads with `dlopen` and unloads with `dlclose`. Its handlers must run
//! when it is unloaded, and nothing of it may run after.

#[atexit::on_exit]
fn plugin_static() {
    println!("plugin: static handler ran");
}

/// Called by the host before `plugin_start`: a handler timeout, which would make the
/// exit run start a thread.
#[no_mangle]
pub extern "C" fn plugin_watch() {
    atexit::set_handler_timeout(Some(std::time::Duration::from_millis(500)));
}

/// Called by the host before `plugin_start`: a handler that ends the process with
/// status 7 while the plugin is unloaded, after the plugin's newer handlers.
#[no_mangle]
pub extern "C" fn plugin_exit_when_unloaded() {
    atexit::register(|| {
        println!("plugin: exiting with 7");
        atexit::exit(7)
    });
}

/// Called by the host before `plugin_start`: a handler that runs the plugin's older
/// handlers itself, with `run_exit_handlers`, while the plugin is unloaded.
#[no_mangle]
pub extern "C" fn plugin_run_nested_when_unloaded() {
    atexit::register(|| println!("plugin: oldest dynamic handler ran"));
    atexit::register(|| {
        println!("plugin: running the rest with run_exit_handlers");
        atexit::run_exit_handlers();
        println!("plugin: run_exit_handlers returned");
    });
}

/// Called by the host after loading the plugin.
#[no_mangle]
pub extern "C" fn plugin_start() {
    atexit::register(|| println!("plugin: dynamic handler ran"));
    println!(
        "plugin: started with {} handlers pending",
        atexit::pending()
    );
}
