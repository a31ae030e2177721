"""tv2tv.apps: commands that run the whole pipeline (``tv2tv quickstart``) and their reports;
the top floor: they import every other package, nothing imports them."""
