// hdnnp-toolkit: LAMMPS pair style "hdnnp" for n2p2 potentials, loaded as a
// plugin.  Same syntax as the ML-HDNNP package (n2p2's pair style):
//
//   pair_style hdnnp <rcut> [dir <dir>] [showew yes|no] [showewsum <int>]
//              [maxew <int>] [resetew yes|no] [cflength <x>] [cfenergy <x>]
//   pair_coeff * * <element or NULL per atom type>
//
// rcut is in LAMMPS length units; cflength / cfenergy convert LAMMPS length /
// energy units to those of the potential's training data (x_potential =
// cflength * x_lammps, E_potential = cfenergy * E_lammps).  The
// normalisation in input.nn (mean_energy, conv_energy, conv_length) is
// applied on top, exactly as n2p2 does.

#ifndef HDNNP_TOOLKIT_PAIR_HDNNP_PLUGIN_H
#define HDNNP_TOOLKIT_PAIR_HDNNP_PLUGIN_H

#include "pair.h"

#include "hdnnp_model.h"

#include <string>
#include <vector>

namespace LAMMPS_NS {

class PairHDNNPToolkit : public Pair {
 public:
  PairHDNNPToolkit(class LAMMPS *);
  ~PairHDNNPToolkit() override;
  void compute(int, int) override;
  void settings(int, char **) override;
  void coeff(int, char **) override;
  void init_style() override;
  double init_one(int, int) override;
  int pack_reverse_comm(int, int, double *) override;
  void unpack_reverse_comm(int, int *, double *) override;
  double memory_usage() override;

 protected:
  void allocate();
  void load_potential();
  void map_types();
  void handle_extrapolation_warnings(long count, const std::string &lines);

  hdnnp_toolkit::Model model;
  hdnnp_toolkit::Workspace ws;
  bool loaded = false;
  bool summary_printed = false;

  // pair_style arguments (n2p2 defaults)
  double cutoff = 0.0;
  std::string directory = "hdnnp/";
  bool showew = true;
  bool resetew = false;
  int showewsum = 0;
  int maxew = 0;
  double cflength = 1.0;
  double cfenergy = 1.0;

  std::vector<std::string> typeElement;  // per LAMMPS type (1-based), "NULL" if unmapped
  std::vector<int> typeMap;              // LAMMPS type -> model element index, -1 if unmapped
  std::vector<double> elemCut2;          // per element: neighbour pre-selection radius^2 (LAMMPS units)

  long numEWTotal = 0;
  long numEWSummary = 0;

  std::vector<hdnnp_toolkit::NeighborVec> nbs;
  std::vector<int> nbIndex;
  std::vector<double> nbDl;  // neighbour vectors in LAMMPS units, for the virial
};

}  // namespace LAMMPS_NS

#endif
