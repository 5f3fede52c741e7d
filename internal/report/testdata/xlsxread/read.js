// Reads an XLSX with exceljs, an implementation independent of the one that
// wrote it, and prints what a spreadsheet user would see as JSON: per sheet,
// the frozen panes, the autofilter, the column widths and every cell with its
// type, value and number format (keys in snake_case, as the Go side's JSON
// is). Usage: node read.js FILE.xlsx
'use strict';
const ExcelJS = require('exceljs');

const types = Object.fromEntries(Object.entries(ExcelJS.ValueType).map(([k, v]) => [v, k]));

async function main() {
  const wb = new ExcelJS.Workbook();
  await wb.xlsx.readFile(process.argv[2]);
  const out = {
    properties: {
      title: wb.title, subject: wb.subject, creator: wb.creator, last_modified_by: wb.lastModifiedBy,
      description: wb.description, category: wb.category,
      created: wb.created && wb.created.toISOString(), modified: wb.modified && wb.modified.toISOString(),
    },
    sheets: [],
  };
  wb.eachSheet((ws) => {
    const sheet = {
      name: ws.name,
      views: ws.views.map((v) => ({ state: v.state, y_split: v.ySplit || 0, x_split: v.xSplit || 0, top_left_cell: v.topLeftCell })),
      auto_filter: ws.autoFilter || null,
      widths: [],
      rows: [],
    };
    for (let c = 1; c <= ws.columnCount; c++) sheet.widths.push(ws.getColumn(c).width || null);
    ws.eachRow({ includeEmpty: true }, (row, n) => {
      const cells = [];
      for (let c = 1; c <= row.cellCount; c++) {
        const cell = row.getCell(c);
        let value = cell.value;
        if (value instanceof Date) value = value.toISOString();
        cells.push({ type: types[cell.type], value: value === undefined ? null : value, num_fmt: cell.numFmt || '' });
      }
      sheet.rows[n - 1] = cells;
    });
    for (let i = 0; i < sheet.rows.length; i++) if (!sheet.rows[i]) sheet.rows[i] = [];
    out.sheets.push(sheet);
  });
  process.stdout.write(JSON.stringify(out));
}

main().catch((err) => {
  console.error(err && err.stack ? err.stack : err);
  process.exit(1);
});
