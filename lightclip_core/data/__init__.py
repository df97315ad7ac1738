"""Datasets: SynthPedes, the person-search benchmarks, Flickr30k and plain folders."""
