// hdnnp-toolkit: registers pair style "hdnnp" with LAMMPS ("plugin load").

#include "lammpsplugin.h"

#include "pair_hdnnp_plugin.h"

// Set by build.py from the installed LAMMPS (format of LAMMPS_VERSION, e.g.
// "22 Jul 2025"); LAMMPS only reports a mismatch, it does not refuse to load.
#ifndef HDNNP_TOOLKIT_LAMMPS_VERSION
#define HDNNP_TOOLKIT_LAMMPS_VERSION "unknown"
#endif

using namespace LAMMPS_NS;

static Pair *hdnnp_toolkit_creator(LAMMPS *lmp)
{
  return new PairHDNNPToolkit(lmp);
}

extern "C" void lammpsplugin_init(void *lmp, void *handle, void *regfunc)
{
  lammpsplugin_t plugin;
  lammpsplugin_regfunc register_plugin = (lammpsplugin_regfunc) regfunc;

  plugin.version = HDNNP_TOOLKIT_LAMMPS_VERSION;
  plugin.style = "pair";
  plugin.name = "hdnnp";
  plugin.info = "hdnnp pair style (n2p2-compatible HDNNP, hdnnp-toolkit plugin)";
  plugin.author = "hdnnp-toolkit";
  plugin.creator.v1 = (lammpsplugin_factory1 *) &hdnnp_toolkit_creator;
  plugin.handle = handle;
  (*register_plugin)(&plugin, lmp);
}
