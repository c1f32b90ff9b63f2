import subprocess, csv, io, json, sys
prot = ["leeds.gov.uk","manchester.gov.uk","bristol.gov.uk","birmingham.gov.uk","sheffield.gov.uk","electoralcommission.org.uk"]
KEEP = ["addition","bitsquatting","cyrillic","homoglyph","hyphenation","insertion","omission","repetition","replacement","subdomain","transposition","various","vowel-swap","plural","dictionary","tld-swap"]
CAP = {"homoglyph": 30}
out = []
for p in prot:
    import dnstwist
    fz = dnstwist.Fuzzer(p); fz.generate()
    rows = [{"fuzzer": d["fuzzer"], "domain": d["domain"]} for d in fz.domains]
    by = {}
    for row in rows:
        by.setdefault(row["fuzzer"],[]).append(row["domain"])
    for f, ds in sorted(by.items()):
        if f not in KEEP: continue
        ds = sorted(set(ds))
        cap = CAP.get(f, 12)
        if len(ds) > cap:
            step = len(ds)/cap
            ds = [ds[int(i*step)] for i in range(cap)]
        for d in ds:
            out.append({"domain": d, "protected": p, "fuzzer": f})
for o in out: print(json.dumps(o, ensure_ascii=False))
