"""SynthPedes: a procedural, labelled stand-in for CUHK-PEDES that needs no download.

Identities have fixed attributes (clothes, colours, bags, hair, ...); each is drawn with PIL several
times with a different view, pose, scale, background, occlusion, lighting, blur and noise, and each
picture gets two independently written captions in the style of CUHK-PEDES annotations. A share of the
identities are near-duplicates that differ from another identity in exactly one attribute, so that
fine detail decides the rank. Output is RSTPReid's format (``data_captions.json`` + ``imgs/``) plus
``attributes.json`` with every identity's ground truth. The same seed and sizes give byte-identical
files, whatever the number of worker processes.

It is synthetic and always called so: numbers measured on it never stand in for a real benchmark's.

Modules, each importing only those above it: vocabulary (attributes and words), identities, drawing
(the plan of a picture and the ``draw`` renderer), camera (the ``camera`` and ``mixed`` renderers),
renderers (the registry), captions, phrasings, counterfactuals, writer (`generate`, `SynthConfig`).
"""
