"""Everything written for a person: output directories, manifests, text summaries and
figures. Single runs, ensembles and batches all write through here."""
