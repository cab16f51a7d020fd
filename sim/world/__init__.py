"""A scenario compiled to arrays (``compiled``), its shocks (``shocks``) and their
schedule over the horizon (``schedule``): everything a driver needs, no stepping."""
