//! Compile once, load once: the per-device cache of modules.
//!
//! [`KernelRegistry::get`] compiles a kernel source for the device's architecture with the given
//! defines the first time it is asked for, loads the CUBIN into the device's context and keeps the
//! module; later calls return the same `Arc<Module>`. With a cache directory (from
//! [`KernelRegistry::with_cache_dir`] or `NVFP4_KERNEL_CACHE`) CUBINs also persist across
//! processes, keyed as [the cache module](crate::cache) describes. Runners call `get` while they
//! are built; nothing compiles inside a forward call.
//!
//! ```no_run
//! use nvfp4_cuda::{Device, KernelRegistry};
//!
//! let registry = KernelRegistry::new(&Device::new(0)?).with_cache_dir("/tmp/nvfp4-kernels");
//! let plain = registry.get("smoke.cu", &[])?;
//! let plus5 = registry.get("smoke.cu", &[("SMOKE_ADD", "5u")])?; // a second module
//! assert!(std::sync::Arc::ptr_eq(&plain, &registry.get("smoke.cu", &[])?));
//! # Ok::<(), nvfp4_cuda::Error>(())
//! ```

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};

use cudarc::nvrtc::Ptx;

use crate::cache::{DiskCache, cache_key};
use crate::compile::{compile, compile_options, nvrtc_version};
use crate::device::Device;
use crate::error::Result;
use crate::module::Module;
use crate::ptxas::parse_ptxas_log;
use crate::sources::{HEADERS, kernel_source};

/// Which module: the source's name and the caller's defines (the architecture is the device's).
type ModuleKey = (&'static str, Vec<(String, String)>);

/// Compiled modules of one device, by kernel source and defines.
#[derive(Debug)]
pub struct KernelRegistry {
    device: Device,
    disk: Option<DiskCache>,
    modules: Mutex<HashMap<ModuleKey, Arc<Module>>>,
}

impl KernelRegistry {
    /// An empty registry for `device`, with the on-disk cache named by `NVFP4_KERNEL_CACHE` if
    /// that is set.
    pub fn new(device: &Device) -> Self {
        Self {
            device: device.clone(),
            disk: DiskCache::from_env(),
            modules: Mutex::default(),
        }
    }

    /// Uses `dir` as the on-disk CUBIN cache (created when first written), overriding
    /// `NVFP4_KERNEL_CACHE`.
    #[must_use]
    pub fn with_cache_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.disk = Some(DiskCache::new(dir.into()));
        self
    }

    /// The on-disk cache directory, if any.
    pub fn cache_dir(&self) -> Option<&Path> {
        self.disk.as_ref().map(DiskCache::dir)
    }

    /// The device the modules are loaded on.
    pub fn device(&self) -> &Device {
        &self.device
    }

    /// The module for kernel source `source` (e.g. `"smoke.cu"`) compiled with `defines`,
    /// compiling and loading it on first use. The NVRTC log stays available in
    /// [`Module::log`].
    ///
    /// # Errors
    /// [`Error::UnknownSource`](crate::Error::UnknownSource), any error of
    /// [`compile`](crate::compile()), [`Error::Cache`](crate::Error::Cache) if the disk cache
    /// cannot be read or written, [`Error::Driver`](crate::Error::Driver) if the CUBIN does not
    /// load.
    pub fn get(&self, source: &str, defines: &[(&str, &str)]) -> Result<Arc<Module>> {
        let source = kernel_source(source)?;
        let key: ModuleKey = (
            source.name,
            defines
                .iter()
                .map(|&(n, v)| (n.to_owned(), v.to_owned()))
                .collect(),
        );
        // Held while compiling: registries are used at construction, so simplicity beats
        // parallel compilation, and a module is never compiled twice.
        let mut modules = self.modules.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(module) = modules.get(&key) {
            return Ok(module.clone());
        }

        let arch = self.device.arch();
        let options = compile_options(arch, defines)?;
        let disk = match &self.disk {
            Some(disk) => Some((disk, cache_key(source, HEADERS, &options, nvrtc_version()?))),
            None => None,
        };
        let cached = match disk {
            Some((disk, hash)) => disk.load(source.name, arch, hash)?,
            None => None,
        };
        let ctx = self.device.context();
        // A cached CUBIN that no longer loads (a damaged file) is compiled again.
        let hit = cached
            .and_then(|(image, log)| Some((ctx.load_module(Ptx::from_binary(image)).ok()?, log)));
        let (cuda, log) = match hit {
            Some(hit) => hit,
            None => {
                let cubin = compile(source, arch, defines)?;
                if let Some((disk, hash)) = disk {
                    disk.store(source.name, arch, hash, &cubin.image, &cubin.log)?;
                }
                (ctx.load_module(Ptx::from_binary(cubin.image))?, cubin.log)
            }
        };
        let module = Arc::new(Module {
            source: source.name,
            options,
            resources: parse_ptxas_log(&log),
            log,
            cuda,
            device: self.device.clone(),
        });
        modules.insert(key, module.clone());
        Ok(module)
    }
}
