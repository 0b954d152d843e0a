"""The 11 synthclinic disease categories, each tied to an ICD-10-CM chapter (harness choice),
with the knowledge all patients of a category share: presenting findings, the monitoring
lab test, the drug class and drugs, procedures and the follow-up clinic. Reasoning questions
are answerable from this shared knowledge; factual questions are not."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Lab:
    name: str
    unit: str
    low: float
    high: float
    decimals: int


@dataclass(frozen=True)
class Category:
    key: str
    chapter: str  # ICD-10-CM chapter number in simple-icd-10-cm
    code_range: str
    system: str
    findings: tuple[str, ...]
    lab: Lab
    drug_class: str
    drugs: tuple[str, ...]
    procedures: tuple[str, ...]
    clinic: str


CATEGORIES: tuple[Category, ...] = (
    Category(
        "oncology", "2", "C00-D49", "neoplastic disease",
        ("an unexplained weight loss", "a painless palpable mass", "night sweats and fatigue"),
        Lab("tumour marker CEA", "ng/mL", 5.0, 80.0, 1),
        "an antineoplastic agent", ("capecitabine", "tamoxifen", "cisplatin"),
        ("a core needle biopsy", "a staging CT scan"), "the oncology clinic",
    ),
    Category(
        "cardiovascular", "9", "I00-I99", "the circulatory system",
        ("crushing chest pain", "palpitations and ankle swelling", "exertional dyspnoea"),
        Lab("troponin I", "ng/L", 30.0, 900.0, 0),
        "a beta blocker", ("metoprolol", "bisoprolol", "carvedilol"),
        ("a coronary angiogram", "a transthoracic echocardiogram"), "the cardiology clinic",
    ),
    Category(
        "infectious", "1", "A00-B99", "an infectious process",
        ("fever with rigors", "a spreading rash with fever", "profuse watery diarrhoea"),
        Lab("C-reactive protein", "mg/L", 40.0, 300.0, 0),
        "an antimicrobial agent", ("ceftriaxone", "doxycycline", "fluconazole"),
        ("blood cultures", "a lumbar puncture"), "the infectious diseases clinic",
    ),
    Category(
        "respiratory", "10", "J00-J99", "the respiratory system",
        ("a productive cough", "wheeze and breathlessness", "pleuritic chest pain"),
        Lab("arterial oxygen saturation", "%", 82.0, 93.0, 0),
        "an inhaled bronchodilator", ("salbutamol", "tiotropium", "ipratropium"),
        ("spirometry", "a bronchoscopy"), "the respiratory clinic",
    ),
    Category(
        "endocrine", "4", "E00-E89", "the endocrine system",
        ("polyuria and polydipsia", "heat intolerance and tremor", "fatigue and weight gain"),
        Lab("HbA1c", "mmol/mol", 50.0, 110.0, 0),
        "a glucose-lowering agent", ("metformin", "gliclazide", "insulin glargine"),
        ("a thyroid ultrasound", "a glucose tolerance test"), "the endocrinology clinic",
    ),
    Category(
        "neurological", "6", "G00-G99", "the nervous system",
        ("a sudden severe headache", "unilateral limb weakness", "recurrent seizures"),
        Lab("cerebrospinal fluid protein", "g/L", 0.5, 2.5, 2),
        "an anticonvulsant", ("levetiracetam", "lamotrigine", "valproate"),
        ("an MRI of the brain", "an electroencephalogram"), "the neurology clinic",
    ),
    Category(
        "mental", "5", "F01-F99", "mental and behavioural health",
        ("low mood and anhedonia", "intrusive anxious thoughts", "auditory hallucinations"),
        Lab("PHQ-9 score", "points", 10.0, 27.0, 0),
        "an antidepressant", ("sertraline", "fluoxetine", "mirtazapine"),
        ("a structured psychiatric interview", "cognitive behavioural therapy"),
        "the psychiatry clinic",
    ),
    Category(
        "digestive", "11", "K00-K95", "the digestive system",
        ("right lower quadrant pain", "haematemesis", "epigastric pain after meals"),
        Lab("serum lipase", "U/L", 60.0, 1200.0, 0),
        "a proton pump inhibitor", ("omeprazole", "pantoprazole", "esomeprazole"),
        ("an upper endoscopy", "a laparoscopic appendectomy"), "the gastroenterology clinic",
    ),
    Category(
        "renal", "14", "N00-N99", "the genitourinary system",
        ("flank pain and haematuria", "reduced urine output", "dysuria and frequency"),
        Lab("serum creatinine", "umol/L", 120.0, 700.0, 0),
        "a loop diuretic", ("furosemide", "bumetanide", "torasemide"),
        ("a renal ultrasound", "haemodialysis"), "the nephrology clinic",
    ),
    Category(
        "musculoskeletal", "13", "M00-M99", "the musculoskeletal system",
        ("swollen painful joints", "chronic low back pain", "morning stiffness"),
        Lab("erythrocyte sedimentation rate", "mm/h", 25.0, 110.0, 0),
        "an anti-inflammatory agent", ("naproxen", "methotrexate", "diclofenac"),
        ("a joint aspiration", "a hip arthroplasty"), "the rheumatology clinic",
    ),
    Category(
        "hematologic", "3", "D50-D89", "the blood and immune system",
        ("pallor and fatigue", "easy bruising", "recurrent infections"),
        Lab("haemoglobin", "g/L", 55.0, 105.0, 0),
        "a haematinic", ("ferrous sulfate", "folic acid", "cyanocobalamin"),
        ("a bone marrow biopsy", "a blood transfusion"), "the haematology clinic",
    ),
)

BY_KEY = {c.key: c for c in CATEGORIES}
