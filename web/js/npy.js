// Reads NumPy .npy files (format 1.0 to 3.0) in the browser, enough for the level-1.5 ML arrays
// the server writes (little-endian float32, C order). Everything read from the file is checked
// before use: the header length, the shape, and that the data bytes are exactly what the shape
// and type say. Any failure is an Error with a message a person can act on.

const MAGIC = [0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59]; // "\x93NUMPY"
const MAX_HEADER = 65536;
export const MAX_ELEMENTS = 4096 * 4096;

const TYPES = {
  '<f4': { size: 4, read: (dv, o) => dv.getFloat32(o, true) },
  '<f8': { size: 8, read: (dv, o) => dv.getFloat64(o, true) },
  '>f4': { size: 4, read: (dv, o) => dv.getFloat32(o, false) },
  '>f8': { size: 8, read: (dv, o) => dv.getFloat64(o, false) },
  '<i2': { size: 2, read: (dv, o) => dv.getInt16(o, true) },
  '<i4': { size: 4, read: (dv, o) => dv.getInt32(o, true) },
  '|u1': { size: 1, read: (dv, o) => dv.getUint8(o) },
};

/** Parses the dict literal of an .npy header: {'descr': '<f4', 'fortran_order': False, 'shape': (512, 512), } */
export function parseNpyHeader(text) {
  const descr = /'descr'\s*:\s*'([^']*)'/.exec(text);
  const fortran = /'fortran_order'\s*:\s*(True|False)/.exec(text);
  const shape = /'shape'\s*:\s*\(([^)]*)\)/.exec(text);
  if (!descr || !fortran || !shape) throw new Error('the .npy header has no descr, fortran_order or shape');
  const dims = shape[1].split(',').map((s) => s.trim()).filter((s) => s !== '');
  if (dims.length > 4 || !dims.every((d) => /^\d{1,9}$/.test(d))) throw new Error(`the .npy shape (${shape[1]}) is not a list of sizes`);
  return { descr: descr[1], fortran: fortran[1] === 'True', shape: dims.map(Number) };
}

/**
 * parseNpy(ArrayBuffer) -> {shape, descr, data: Float32Array (C order)}. The data are converted to
 * float32 whatever the stored type; NaN stays NaN.
 */
export function parseNpy(buf) {
  if (!(buf instanceof ArrayBuffer)) throw new Error('not binary data');
  const u8 = new Uint8Array(buf);
  if (u8.length < 10 || MAGIC.some((b, i) => u8[i] !== b)) throw new Error('not a NumPy .npy file (no \\x93NUMPY signature)');
  const major = u8[6];
  const dv = new DataView(buf);
  let hlen;
  let start;
  if (major === 1) {
    hlen = dv.getUint16(8, true);
    start = 10;
  } else if (major === 2 || major === 3) {
    if (u8.length < 12) throw new Error('the .npy file is cut short');
    hlen = dv.getUint32(8, true);
    start = 12;
  } else {
    throw new Error(`.npy format version ${major} is not known`);
  }
  if (hlen > MAX_HEADER || start + hlen > u8.length) throw new Error('the .npy header is longer than the file or than 64 KiB');
  const header = parseNpyHeader(new TextDecoder('latin1').decode(u8.subarray(start, start + hlen)));
  const type = TYPES[header.descr];
  if (!type) throw new Error(`.npy element type ${header.descr} is not supported here`);
  let count = 1;
  for (const d of header.shape) {
    count *= d;
    if (count > MAX_ELEMENTS) throw new Error(`the array holds more than ${MAX_ELEMENTS} values`);
  }
  const off = start + hlen;
  if (u8.length - off !== count * type.size) {
    throw new Error(`the .npy data are ${u8.length - off} bytes; shape (${header.shape.join(', ')}) of ${header.descr} needs ${count * type.size}`);
  }
  let data;
  if (header.descr === '<f4' && off % 4 === 0) {
    data = new Float32Array(buf, off, count);
  } else {
    data = new Float32Array(count);
    for (let i = 0; i < count; i++) data[i] = type.read(dv, off + i * type.size);
  }
  if (header.fortran && header.shape.length > 2) throw new Error('a Fortran-order .npy of more than two dimensions is not supported here');
  if (header.fortran && header.shape.length === 2) {
    const [rows, cols] = header.shape;
    const c = new Float32Array(count);
    for (let r = 0; r < rows; r++) for (let k = 0; k < cols; k++) c[r * cols + k] = data[k * rows + r];
    data = c;
  }
  return { shape: header.shape, descr: header.descr, data };
}
