"""Everything written for a person: output directories, manifests, tables, text summaries
and figures. Single runs, ensembles and batches all write through here.

Modules:

- ``kinds``: which command made an output directory (``run``, ``ensemble``, ``batch``,
  ``analysis``), read from its manifest's ``kind`` or, for earlier versions, inferred
  (``inspect_dir``, ``infer_kind``, ``Contents``).
- ``files``: output directories checked before any work (``check_out_dir``: new, empty,
  or an earlier output of the same kind that holds nothing else; anything else only
  with ``force``) and written all or nothing (``atomic_dir``, ``atomic_file``,
  ``temporary_path``; a failure to write is an ``OutputError`` naming the path and the
  cause); the one way to write a figure (``write_figure``) and a manifest
  (``write_manifest``, ``MANIFEST``).
- ``manifest``: what every output records about how it was made: the common stamp
  (``stamped``: scenario, package versions and git commit, wall time, creation time,
  command; ``versions``, ``utc_now``), and the manifests of a run (``run_manifest``)
  and of an ensemble (``ensemble_manifest``). The batch store's manifest
  (``sim.batch.store.new_manifest``) uses the same stamp.
- ``run_files``: one run's outputs (``write_outputs``: tables, figure, manifest).
- ``ensemble_files``: an ensemble streamed to disk chunk by chunk (``save_ensemble``,
  ``SavedEnsemble``), refused when its index arrays would not fit in memory
  (``check_memory``, ``available_memory``).
- ``analysis_files``: the figures and tables of ``plot``, ``compare`` and
  ``sensitivity``, in a directory whose manifest records what made each file
  (``open_analysis_dir``, ``AnalysisDir``).
- ``summary``: the text summaries of a run (``run_summary``) and of an ensemble
  (``ensemble_summary``), and what they share (``focus_state``, the headline).
- ``plots``: figures (``alignment_figure``, ``ensemble_figure``) and their parts (shock
  marks and legends, fan bands), also used by the batch plots and the dashboard.
"""
